import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv", parse_dates=["date"])
df["indexed"] = df.groupby("ticker")["close"].transform(lambda s: 100 * s / s.iloc[0])

plt.figure(figsize=(12, 6))
ax = sns.lineplot(data=df, x="date", y="indexed", hue="ticker", linewidth=2.5)
plt.legend(loc="center", fontsize=20, title="Ticker symbol", title_fontsize=22, markerscale=4,
           borderpad=2, labelspacing=1.2, framealpha=1, facecolor="#fffbe6")
plt.title("Stock performance 2024 (indexed)")
plt.ylabel("Index")
plt.show()
