"""Bubble chart of income and longevity by country (2020)."""
import pandas as pd
import plotly.express as px

df = pd.read_csv("data.csv")
latest = df[df["year"] == 2020].copy()
latest["label"] = latest["country"].where(latest["population_m"] >= 170, "")  # label only the most populous countries

fig = px.scatter(
    latest, x="gdp_per_capita", y="life_expectancy", size="population_m", color="continent", hover_name="country",
    log_x=True, size_max=55, text="label",
    color_discrete_sequence=["#ff6b6b", "#4ecdc4", "#ffe66d", "#a8dadc", "#c77dff"],
    labels={"gdp_per_capita": "GDP per capita (USD, log)", "life_expectancy": "Life expectancy (years)",
            "population_m": "Population (m)", "continent": "Continent"},
    hover_data={"label": False},
)
fig.update_traces(textposition="top center", textfont_size=10, marker=dict(line=dict(width=1, color="white"), opacity=0.8))
fig.update_layout(
    template="plotly_dark", title=dict(text="<b>Income vs. longevity around the world (2020)</b>", x=0.02, font_size=22),
    font=dict(family="Inter, Arial, sans-serif", size=13), legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
    margin=dict(l=70, r=30, t=90, b=60), width=1000, height=650,
)
fig.update_xaxes(tickvals=[2000, 5000, 10000, 20000, 50000], ticktext=["$2k", "$5k", "$10k", "$20k", "$50k"], showgrid=True, gridcolor="#333")
fig.show()
