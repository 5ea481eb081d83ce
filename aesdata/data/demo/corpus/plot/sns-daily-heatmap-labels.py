import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

df = pd.read_csv("data.csv")
grid = df.pivot(index="city", columns="date", values="temp_c")

plt.figure(figsize=(14, 4))
ax = sns.heatmap(grid, cmap="RdBu_r", xticklabels=True)
ax.set_xticklabels(ax.get_xticklabels(), rotation=0, fontsize=10)
plt.title("Daily temperature by city, 2023")
plt.tight_layout()
plt.show()
