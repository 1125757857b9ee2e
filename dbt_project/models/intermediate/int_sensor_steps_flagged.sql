{{ config(materialized='view') }}
-- The generic threshold flags for any sensor, per household, sensor and step
-- (macros/generic_flags.sql says what each flag means). A view, computed when read: the build
-- does not store these 30 columns of every sensor-step. The classifier's copy of the flags is
-- int_household_steps_pivoted, which computes them for the known sensors from the same macro.
-- Filter on household_id and sensor when reading: the windows run per series, so only that
-- series is computed.
{{ generic_flags() }}
