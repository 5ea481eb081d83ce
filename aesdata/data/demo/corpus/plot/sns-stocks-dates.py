import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv")
sns.set_theme()
plt.figure(figsize=(12, 6))
ax = sns.pointplot(data=df, x="date", y="close", hue="ticker", markers="", linestyles="-")
ax.set_xticks(range(0, df["date"].nunique(), 2))
ax.set_xticklabels(sorted(df["date"].unique())[::2], fontsize=11)
plt.title("Closing prices 2024")
plt.show()
