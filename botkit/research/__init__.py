"""Research: parameter search over candle backtests (``botkit optimize``), walk-forward,
local processes or a Ray cluster. Optuna and Ray are optional extras
(``pip install 'botkit[research]'``, ``'botkit[ray]'``); docs/research.md.
"""

__all__: list[str] = []
