import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv")
latest = df[df["year"] == "2020"]

fig, ax = plt.subplots(figsize=(10, 7))
ax.scatter(latest["gdp_per_capita"], latest["life_expectancy"], s=latest["population_m"], alpha=0.6)
for _, r in latest.iterrows():
    ax.text(r["gdp_per_capita"], r["life_expectancy"], r["country"])
ax.set_xscale("log")
ax.set_xlabel("GDP per capita")
ax.set_ylabel("Life expectancy")
ax.set_title("Wealth and health of nations, 2020")
plt.show()
