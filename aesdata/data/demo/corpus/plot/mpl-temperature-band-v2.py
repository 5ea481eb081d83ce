"""Weekly smoothed temperatures per city, 2023."""
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv", parse_dates=["date"])
colors = {"Oslo": "#5e60ce", "Madrid": "#f4a261", "Singapore": "#43aa8b"}

fig, ax = plt.subplots(figsize=(12, 6.5))
for city, rows in df.groupby("city"):
    s = rows.set_index("date")["temp_c"]
    smooth = s.rolling(7, center=True).mean()
    ax.fill_between(s.index, s.rolling(7, center=True).min(), s.rolling(7, center=True).max(), color=colors[city], alpha=0.15, linewidth=0)
    ax.plot(smooth.index, smooth, color=colors[city], linewidth=2.2)
    ax.annotate(city, (smooth.dropna().index[-1], smooth.dropna().iloc[-1]), xytext=(8, 0), textcoords="offset points",
                color=colors[city], fontweight="bold", va="center")

ax.set_title("Weekly average temperature by city (2023)", loc="left", fontsize=15, fontweight="bold")
ax.set_ylabel("Temperature (°C)")
ax.xaxis.set_major_locator(mdates.MonthLocator())
ax.xaxis.set_major_formatter(mdates.DateFormatter("%b"))
ax.axhline(0, color="#999", linewidth=0.8, linestyle="--")
ax.spines[["top", "right"]].set_visible(False)
ax.grid(axis="y", color="#eee")
ax.set_xlim(df["date"].min(), df["date"].max() + pd.Timedelta(days=40))
fig.tight_layout()
plt.show()
