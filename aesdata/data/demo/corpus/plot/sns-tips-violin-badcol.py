import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv")
df["tip_pct"] = df["tip"] / df["total_bill"] * 100

sns.set_style("darkgrid")
plt.figure(figsize=(10, 6))
sns.violinplot(data=df, x="weekday", y="tip_pct", hue="smoker", split=True, palette="muted")
plt.title("Tip percentage by day")
plt.ylabel("Tip %")
plt.show()
