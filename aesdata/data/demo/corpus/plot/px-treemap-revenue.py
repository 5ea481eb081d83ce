"""Treemap of 2024 revenue by region and product."""
import pandas as pd
import plotly.express as px

df = pd.read_csv("data.csv")
totals = df.groupby(["region", "product"], as_index=False)["revenue_k"].sum()

fig = px.treemap(
    totals, path=[px.Constant("All regions"), "region", "product"], values="revenue_k", color="region",
    color_discrete_map={"(?)": "#f5f5f5", "North America": "#3a86ff", "Europe": "#8338ec", "Asia Pacific": "#ff006e", "Latin America": "#fb5607"},
)
fig.update_traces(texttemplate="<b>%{label}</b><br>$%{value:,.0f}k<br>%{percentRoot:.1%}", root_color="#f5f5f5",
                  marker=dict(cornerradius=4), tiling=dict(pad=3))
fig.update_layout(title=dict(text="<b>Where 2024 revenue came from</b>", x=0.02, font_size=22),
                  font=dict(family="Inter, Arial, sans-serif", size=14), margin=dict(l=10, r=10, t=70, b=10), width=1000, height=650)
fig.show()
