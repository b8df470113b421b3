"""`harness report`: a store's results as one self-contained HTML page (figures inline, no
network), and `harness plot`: one of its figures for a paper (matplotlib, an extra).

collect.py reads what a task shows through the leaderboard's and compare's code; svg.py
draws the page's figures, tables.py its tables; page.py writes the page; plot.py the
matplotlib figures; cli.py adds both commands.
"""
