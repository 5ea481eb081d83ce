"""2024 closing prices per ticker, indexed to 100 on the first trading day."""
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv", parse_dates=["date"])
df = df.sort_values("date")
df["indexed"] = df.groupby("ticker")["close"].transform(lambda s: 100 * s / s.iloc[0])

sns.set_theme(style="ticks", font_scale=1.05)
fig, ax = plt.subplots(figsize=(12, 6))
palette = {"NOVA": "#6a4c93", "KITE": "#1982c4", "ORBL": "#8ac926"}
sns.lineplot(data=df, x="date", y="indexed", hue="ticker", palette=palette, linewidth=2, ax=ax)
ax.axhline(100, color="#888", linewidth=0.8, linestyle="--")
for ticker, g in df.groupby("ticker"):
    last = g.iloc[-1]
    ax.annotate(f"{last['indexed']:.0f}", (last["date"], last["indexed"]), xytext=(6, 0), textcoords="offset points",
                va="center", color=palette[ticker], fontweight="bold")
ax.xaxis.set_major_locator(mdates.MonthLocator())
ax.xaxis.set_major_formatter(mdates.DateFormatter("%b"))
ax.set(xlabel="", ylabel="Indexed close (2 Jan 2024 = 100)")
ax.set_title("Who won 2024? Indexed share prices", loc="left", fontsize=15, fontweight="bold")
ax.legend(title="", frameon=False, loc="upper left", ncols=3)
sns.despine()
fig.tight_layout()
plt.show()
