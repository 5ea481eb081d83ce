import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

df = pd.read_csv("data.csv")
oslo = df[df.city == "Oslo"]

fig = make_subplots(specs=[[{"secondary_y": True}]])
fig.add_trace(go.Bar(x=oslo.date, y=oslo.precip_mm, name="Precipitation in millimetres per day"), secondary_y=False)
fig.add_trace(go.Scatter(x=oslo.date, y=oslo.temp_c, name="Daily mean temperature in degrees Celsius", mode="lines+markers"), secondary_y=True)
fig.update_layout(
    title="Oslo weather 2023",
    legend=dict(x=0.25, y=0.6, font=dict(size=22), bgcolor="rgba(255,255,255,1)", bordercolor="black", borderwidth=2),
    width=1000, height=600,
)
fig.update_xaxes(rangeslider_visible=True)
fig.show()
