import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv")
df = df[df.year == 2020]

plt.figure()
plt.scatter(df.gdp_per_capita, df.life_expectancy)
plt.xlabel("gdp_per_capita")
plt.ylabel("life_expectancy")
plt.title("GDP vs Life Expectancy")
plt.show()
