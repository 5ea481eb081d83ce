import pandas as pd
import plotly.express as px

df = pd.read_csv("data.csv")
df = df[df.year == 2020]

fig = px.scatter(df, x="gdp_per_capita", y="life_expectancy", size="population", color="continent",
                 hover_name="country", log_x=True, size_max=60, title="GDP vs life expectancy (2020)")
fig.show()
