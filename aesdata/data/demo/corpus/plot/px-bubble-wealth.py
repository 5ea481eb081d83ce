"""Interactive bubble chart: GDP per capita vs life expectancy, 2020."""
import pandas as pd
import plotly.express as px

df = pd.read_csv("data.csv")
d = df[df["year"] == 2020].copy()
d["label"] = d["country"].where(d["population_m"] >= 170, "")  # label only the most populous countries

fig = px.scatter(
    d, x="gdp_per_capita", y="life_expectancy", size="population_m", color="continent", hover_name="country",
    log_x=True, size_max=60, text="label",
    color_discrete_sequence=["#e76f51", "#2a9d8f", "#e9c46a", "#264653", "#8e7dbe"],
    labels={"gdp_per_capita": "GDP per capita (USD, log)", "life_expectancy": "Life expectancy (years)",
            "population_m": "Population (m)", "continent": "Continent"},
    hover_data={"label": False},
)
fig.update_traces(textposition="top center", textfont_size=10, marker=dict(line=dict(width=1, color="white"), opacity=0.8))
fig.update_layout(
    template="plotly_white", title=dict(text="<b>Wealth and health of nations, 2020</b>", x=0.02, font_size=22),
    font=dict(family="Inter, Arial, sans-serif", size=13), legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
    margin=dict(l=70, r=30, t=90, b=60), width=1000, height=650,
)
fig.update_xaxes(tickvals=[2000, 5000, 10000, 20000, 50000], ticktext=["$2k", "$5k", "$10k", "$20k", "$50k"], showgrid=True, gridcolor="#eee")
fig.show()
