import pandas as pd
import plotly.graph_objects as go

df = pd.read_csv("data.csv")
q = df[df["quarter"].str.startswith("Q")]
totals = q.groupby(["region", "product"], as_index=False)["revenue_k"].sum()

fig = go.Figure()
for region, g in totals.groupby("region"):
    fig.add_trace(go.Bar(x=g["product"], y=g["revenue_k"], name=region))
fig.update_layout(title="Revenue by region and product (2024)", barmode="stack",
                  xaxis_title="Product", yaxis_title="Revenue (k$)", template="plotly_white")
fig.show()
