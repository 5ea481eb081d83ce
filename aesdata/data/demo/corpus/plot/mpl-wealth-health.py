"""Life expectancy vs GDP per capita in 2020, bubbles sized by population."""
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

df = pd.read_csv("data.csv")
d = df[df["year"] == 2020]
colors = {"Asia": "#e76f51", "Europe": "#2a9d8f", "Africa": "#e9c46a", "Americas": "#264653", "Oceania": "#8e7dbe"}

fig, ax = plt.subplots(figsize=(11, 7))
for continent, g in d.groupby("continent"):
    ax.scatter(g["gdp_per_capita"], g["life_expectancy"], s=g["population_m"] * 2.2 + 30, color=colors[continent],
               alpha=0.75, edgecolor="white", linewidth=1.2, label=continent)
for _, row in d.nlargest(5, "population_m").iterrows():
    radius = (row["population_m"] * 2.2 + 30) ** 0.5 / 2
    ax.annotate(row["country"], (row["gdp_per_capita"], row["life_expectancy"]), xytext=(0, radius + 4), textcoords="offset points",
                ha="center", fontsize=10, color="#333")

ax.set_xscale("log")
ax.xaxis.set_major_locator(FixedLocator([2000, 5000, 10000, 20000, 50000]))
ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v / 1000:.0f}k"))
ax.xaxis.set_minor_formatter(NullFormatter())
ax.set_xlabel("GDP per capita (USD, log scale)")
ax.set_ylabel("Life expectancy (years)")
ax.set_title("Richer countries live longer — 2020", loc="left", fontsize=16, fontweight="bold")
ax.spines[["top", "right"]].set_visible(False)
ax.grid(color="#eee")
legend = ax.legend(title="Continent", frameon=False, loc="lower right")
for handle in legend.legend_handles:
    handle.set_sizes([80])
fig.tight_layout()
plt.show()
