"""Readers for real energy data, the site energy model and surplus windows.

Modules (imported on demand, so ``import greenhop.traces`` stays light):

* :mod:`~greenhop.traces.tmy`: pvlib's bundled TMY3/TMY2 weather (3 US stations);
* :mod:`~greenhop.traces.pv`, :mod:`~greenhop.traces.wind`: PV [W/kWp] and wind [W/kW]
  from that weather; clear-sky x measured clear-sky index PV at any coordinates;
* :mod:`~greenhop.traces.vessim_data`: Solcast 2022 PV and WattTime 2023 carbon
  intensity with issued forecasts (``greenhop data fetch``);
* :mod:`~greenhop.traces.emissions`: German hourly carbon intensity 2021-2024;
* :mod:`~greenhop.traces.user_trace`: the user's own CSV/Parquet, strictly validated;
* :mod:`~greenhop.traces.resample`: energy-conserving resampling;
* :mod:`~greenhop.traces.dispatch`: renewables -> battery -> grid;
* :mod:`~greenhop.traces.site_model`: ``renewable_power(site, index)``, ``site_energy``;
* :mod:`~greenhop.traces.fleet`: ``load_fleet(path=None)``;
* :mod:`~greenhop.traces.windows`: ``find_windows``, ``window_stats``,
  ``fleet_complementarity``, ``remaining_window_s``;
* :mod:`~greenhop.traces.catalog`: every dataset, its source, terms and presence.
"""
