"""LLMoE (the second seeded paper): an LLM router picks an optimistic or a pessimistic FNN
expert for each day, and the selected expert's next-day prediction is traded all-in/all-out.

Files, in pipeline order: `features.py` (the paper's Table 3 features and 5-day windows),
`headlines.py` (the user's dated news file), `prompt.py` (one descriptive line per day),
`llm.py` (the router: label likelihoods and a one-sentence rationale, cached on disk),
`experts.py` (the FNN experts), `baselines.py` (Table 1's baselines), `trading.py` (nautilus
backtests of prediction series), `evaluate.py` (the Table 1 run) and `table.py` (its report).
"""
