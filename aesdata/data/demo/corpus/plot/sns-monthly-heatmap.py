"""Annotated heatmap of mean monthly temperature per city."""
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv", parse_dates=["date"])
df["month"] = df["date"].dt.strftime("%b")
months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
grid = df.pivot_table(index="city", columns="month", values="temp_c", aggfunc="mean")[months]

sns.set_theme(style="white")
fig, ax = plt.subplots(figsize=(12, 4.2))
sns.heatmap(grid, annot=True, fmt=".0f", cmap="RdBu_r", center=12, linewidths=2, linecolor="white",
            cbar_kws={"label": "°C", "shrink": 0.8}, annot_kws={"fontsize": 11}, ax=ax)
ax.set(xlabel="", ylabel="")
ax.tick_params(axis="y", rotation=0, labelsize=12)
ax.tick_params(axis="x", labelsize=11)
ax.set_title("Mean monthly temperature, 2023 (°C)", loc="left", fontsize=15, fontweight="bold", pad=14)
fig.tight_layout()
plt.show()
