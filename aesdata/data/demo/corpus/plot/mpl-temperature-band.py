"""7-day rolling mean temperature per city with a rolling min-max band."""
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv", parse_dates=["date"])
palette = {"Oslo": "#3b6ea8", "Madrid": "#d1603d", "Singapore": "#2a9d8f"}

fig, ax = plt.subplots(figsize=(12, 6))
for city, group in df.groupby("city"):
    s = group.set_index("date")["temp_c"]
    mean = s.rolling(7, center=True).mean()
    ax.fill_between(s.index, s.rolling(7, center=True).min(), s.rolling(7, center=True).max(), color=palette[city], alpha=0.15, linewidth=0)
    ax.plot(mean.index, mean, color=palette[city], linewidth=2.2)
    ax.annotate(city, (mean.dropna().index[-1], mean.dropna().iloc[-1]), xytext=(8, 0), textcoords="offset points",
                color=palette[city], fontweight="bold", va="center")

ax.set_title("Three climates, one year: 7-day mean temperature, 2023", loc="left", fontsize=15, fontweight="bold")
ax.set_ylabel("Temperature (°C)")
ax.xaxis.set_major_locator(mdates.MonthLocator())
ax.xaxis.set_major_formatter(mdates.DateFormatter("%b"))
ax.axhline(0, color="#999", linewidth=0.8, linestyle="--")
ax.spines[["top", "right"]].set_visible(False)
ax.grid(axis="y", color="#eee")
ax.set_xlim(df["date"].min(), df["date"].max() + pd.Timedelta(days=40))
fig.tight_layout()
plt.show()
