"""Tip percentage by day, split violins for smokers and non-smokers."""
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv")
df["tip_pct"] = 100 * df["tip"] / df["total_bill"]

sns.set_theme(style="whitegrid", font_scale=1.05)
fig, ax = plt.subplots(figsize=(10, 6))
sns.violinplot(data=df, x="day", y="tip_pct", hue="smoker", order=["Thu", "Fri", "Sat", "Sun"], split=True, inner="quart",
               palette={"Yes": "#f4a259", "No": "#5b8e7d"}, linewidth=1, cut=0, ax=ax)
ax.axhline(df["tip_pct"].median(), color="#444", linestyle=":", linewidth=1)
ax.text(3.45, df["tip_pct"].median() + 0.4, f"median {df['tip_pct'].median():.1f}%", ha="right", fontsize=9, color="#444")
ax.set(xlabel="", ylabel="Tip (% of bill)")
ax.set_title("Tips are steadier on weekdays", loc="left", fontsize=15, fontweight="bold")
ax.legend(title="Smoker", frameon=False, loc="upper left")
sns.despine(left=True)
fig.tight_layout()
plt.show()
