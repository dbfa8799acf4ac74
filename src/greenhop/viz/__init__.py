"""Interactive plotting components (Plotly figure specifications) shared by the simulation
and sweep reports and the live dashboard; Plotly's JavaScript ships inside the package."""
