import pandas as pd
import plotly.express as px

df = pd.read_csv("data.csv")
by_region = df.groupby("region", as_index=False)["revenue_k"].sum()

fig = px.pie(by_region, names="region", values="revenue_k", title="Revenue by region")
fig.show()
