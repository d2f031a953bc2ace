"""What Optuna is asked: search spaces, samplers and pruners, refined bounds, Pareto fronts,
the pick rule, and small facts about trials. Pure functions over specs and Optuna objects;
nothing here trains, stores or tracks."""
