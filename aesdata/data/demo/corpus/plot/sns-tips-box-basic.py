import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv")
df["tip_pct"] = df["tip"] / df["total_bill"]

sns.boxplot(x="day", y="tip_pct", hue="smoker", data=df)
plt.show()
