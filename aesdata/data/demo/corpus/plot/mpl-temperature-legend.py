import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv", parse_dates=["date"])

fig, ax = plt.subplots(figsize=(12, 6))
for city, group in df.groupby("city"):
    s = group.set_index("date")["temp_c"].rolling(7, center=True).mean()
    lo = group.set_index("date")["temp_c"].rolling(7, center=True).min()
    hi = group.set_index("date")["temp_c"].rolling(7, center=True).max()
    ax.plot(s.index, s, linewidth=3, marker="o", markersize=4, label=f"{city} (7-day mean)")
    ax.fill_between(s.index, lo, hi, alpha=0.2, label=f"{city} (min-max)")

ax.set_title("Temperature 2023")
ax.set_ylabel("°C")
ax.legend(loc="center", fontsize=16, framealpha=1.0, markerscale=3, borderpad=1.5, title="Cities", title_fontsize=18)
plt.show()
