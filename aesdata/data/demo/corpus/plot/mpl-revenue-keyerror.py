import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv")
pivot = df.pivot_table(index="Product", columns="Quarter", values="Revenue", aggfunc="sum")

ax = pivot.plot(kind="bar", figsize=(10, 6), colormap="viridis")
ax.set_title("Revenue per product by quarter")
ax.set_ylabel("Revenue (k$)")
ax.legend(title="Quarter")
plt.xticks(rotation=0)
plt.tight_layout()
plt.show()
