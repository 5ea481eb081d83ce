"""Oslo 2023: daily precipitation bars and temperature line on a secondary axis, with a range slider."""
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

df = pd.read_csv("data.csv", parse_dates=["date"])
oslo = df[df["city"] == "Oslo"].sort_values("date")

fig = make_subplots(specs=[[{"secondary_y": True}]])
fig.add_trace(go.Bar(x=oslo["date"], y=oslo["precip_mm"], name="Precipitation (mm)", marker_color="#8ecae6", opacity=0.85), secondary_y=False)
fig.add_trace(go.Scatter(x=oslo["date"], y=oslo["temp_c"].rolling(7, center=True).mean(), name="Temperature, 7-day mean (°C)",
                         line=dict(color="#e85d04", width=2.5)), secondary_y=True)
fig.update_layout(
    template="plotly_white", title=dict(text="<b>Oslo, 2023: cold, and wet all year round</b>", x=0.02, y=0.96, font_size=20),
    font=dict(family="Inter, Arial, sans-serif", size=13), legend=dict(orientation="h", x=0, y=1.01, yanchor="bottom"), bargap=0.1,
    hovermode="x unified", width=1050, height=620, margin=dict(l=60, r=60, t=110, b=40),
)
fig.update_xaxes(rangeslider=dict(visible=True, thickness=0.08), dtick="M1", tickformat="%b")
fig.update_yaxes(title_text="Precipitation (mm)", secondary_y=False, gridcolor="#eee")
fig.update_yaxes(title_text="Temperature (°C)", secondary_y=True, showgrid=False, zeroline=True, zerolinecolor="#ccc")
fig.show()
