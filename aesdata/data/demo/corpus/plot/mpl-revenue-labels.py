import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv")
df["label"] = df["product"] + " / " + df["region"]
totals = df.groupby("label")["revenue_k"].sum()

fig, ax = plt.subplots(figsize=(10, 6))
ax.bar(totals.index, totals.values, color="tab:blue")
ax.set_xticks(range(len(totals.index)))
ax.set_xticklabels(totals.index, fontsize=12)
ax.set_ylabel("Revenue")
ax.set_title("Revenue by product and region")
plt.show()
