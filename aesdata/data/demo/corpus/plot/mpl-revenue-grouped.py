"""Grouped bar chart: total revenue per product for each quarter of 2024."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

df = pd.read_csv("data.csv")
table = df.pivot_table(index="product", columns="quarter", values="revenue_k", aggfunc="sum")
table = table.loc[table.sum(axis=1).sort_values(ascending=False).index]

plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 11})
fig, ax = plt.subplots(figsize=(11, 6), dpi=100)
colors = ["#c6dbef", "#6baed6", "#2171b5", "#08306b"]
width = 0.2
x = np.arange(len(table.index))
for i, (quarter, color) in enumerate(zip(table.columns, colors)):
    bars = ax.bar(x + (i - 1.5) * width, table[quarter], width, label=quarter.replace("2024-", ""), color=color)
    if i == len(table.columns) - 1:
        ax.bar_label(bars, fmt="%.0f", padding=3, fontsize=9, color="#333")

ax.set_xticks(x, [name.replace(" ", "\n", 1) for name in table.index])
ax.set_ylabel("Revenue (thousand USD)")
ax.set_title("2024 revenue by product and quarter", loc="left", fontsize=16, fontweight="bold", pad=16)
ax.spines[["top", "right"]].set_visible(False)
ax.yaxis.grid(True, color="#e5e5e5")
ax.set_axisbelow(True)
ax.legend(title="Quarter", frameon=False, ncols=4, loc="upper right")
fig.tight_layout()
plt.show()
