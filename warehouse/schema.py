"""The raw schema: versioned, idempotent DDL.

Each migration runs once, in its own transaction, and is recorded in
`raw.schema_migrations`. Never edit a migration that has shipped: add a new one.
Table and column names here are a public contract (see docs/warehouse.md).
"""
from __future__ import annotations

import duckdb

from warehouse.dbhelpers import has_table, transaction
from warehouse.errors import WarehouseError

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "raw landing tables",
        [
            """
            create table raw.readings (
                household_id varchar   not null,
                sensor       varchar   not null,
                reading_at   timestamp not null,  -- UTC
                value        double    not null,
                batch_id     varchar   not null,
                ingested_at  timestamp not null   -- UTC
            )""",
            """
            create table raw.households (
                household_id varchar primary key,
                source       varchar   not null,  -- 'simulator' or 'file'
                timezone     varchar   not null,
                profile      json,                -- simulator parameters; null for files
                batch_id     varchar   not null,
                created_at   timestamp not null
            )""",
            """
            create table raw.injected_events (
                event_id      varchar primary key,
                household_id  varchar   not null,
                kind          varchar   not null,  -- 'anomaly', 'fault' or 'normal'
                anomaly_class integer   not null,  -- 1-5 for anomalies, 0 otherwise
                event_type    varchar   not null,  -- e.g. 'heating_failure', 'stuck', 'late_shower'
                sensor        varchar,             -- main sensor affected; null = all sensors
                start_at      timestamp not null,  -- UTC, inclusive
                end_at        timestamp not null,  -- UTC, exclusive
                intensity     double,
                description   varchar   not null,
                batch_id      varchar   not null
            )""",
            """
            create table raw.quarantine (
                batch_id       varchar   not null,
                source_file    varchar   not null,
                line_number    bigint,             -- 1-based line in the file (row for Parquet)
                household_id   varchar,
                raw_record     varchar   not null,
                reason         varchar   not null,
                quarantined_at timestamp not null
            )""",
            """
            create table raw.batches (
                batch_id         varchar primary key,
                source           varchar   not null,  -- 'simulator' or 'file'
                source_ref       varchar   not null,  -- file path or simulation parameters
                content_hash     varchar,             -- sha256 of the file, for idempotent ingest
                rows_loaded      bigint    not null,
                rows_quarantined bigint    not null,
                households       integer   not null,
                min_reading_at   timestamp,
                max_reading_at   timestamp,
                started_at       timestamp not null,
                finished_at      timestamp not null,
                status           varchar   not null,
                details          json
            )""",
            """
            create table raw.simulations (
                simulation_id     varchar primary key,
                seed              bigint    not null,
                households        integer   not null,
                start_at          timestamp not null,
                step_seconds      integer   not null,
                days              integer   not null,  -- days landed so far
                generator_version varchar   not null,
                created_at        timestamp not null,
                updated_at        timestamp not null
            )""",
        ],
    ),
    (
        2,
        "dq: data-quality check runs, validation results and drift reference statistics",
        [
            "create schema if not exists dq",
            """
            create table dq.check_runs (
                run_id             varchar primary key,
                batch_id           varchar   not null,
                started_at         timestamp not null,  -- UTC
                finished_at        timestamp not null,  -- UTC
                passed             boolean   not null,  -- no critical expectation failed
                n_expectations     integer   not null,
                n_failed_critical  integer   not null,
                n_failed_warn      integer   not null,
                n_not_evaluated    integer   not null,  -- e.g. drift before a reference period exists
                reference_id       varchar              -- the drift reference used, if any
            )""",
            """
            create table dq.validation_results (
                run_id           varchar   not null,
                batch_id         varchar   not null,
                suite            varchar   not null,  -- e.g. 'raw_readings', 'drift_sensors'
                expectation      varchar   not null,  -- stable HomeWatch name, e.g. 'within_physical_range:temperature'
                expectation_type varchar   not null,  -- the Great Expectations type
                column_name      varchar,
                success          boolean,             -- null: not evaluated (details say why)
                observed_value   varchar,
                threshold        varchar,
                severity         varchar   not null,  -- 'critical' blocks scoring, 'warn' is reported
                details          json,
                checked_at       timestamp not null   -- UTC
            )""",
            """
            create table dq.reference_stats (
                reference_id  varchar   not null,
                sensor        varchar   not null,
                household_id  varchar   not null,  -- '*' for all households pooled
                stat          varchar   not null,  -- 'mean', 'std', 'q05', 'q50', 'q95', 'band', 'histogram'
                center        double,              -- mean of the statistic over the reference windows
                spread        double,              -- its standard deviation over the windows
                pooled        double,              -- the statistic over all reference values together
                n_windows     integer   not null,
                n_values      bigint    not null,
                details       json,                -- e.g. histogram edges and weights
                period_start  timestamp not null,
                period_end    timestamp not null,
                computed_at   timestamp not null,
                primary key (reference_id, sensor, household_id, stat)
            )""",
        ],
    ),
    (
        3,
        "ml: model registry, predictions, scoring ledger and runs, evaluation metrics",
        [
            "create schema if not exists ml",
            """
            create table ml.model_registry (
                model_version varchar primary key,
                arch          varchar   not null,
                created_at    timestamp not null,
                status        varchar   not null,   -- 'candidate', 'production' or 'retired'
                val_macro_f1  double    not null,
                test_macro_f1 double,
                train_from    timestamp,
                train_to      timestamp,
                config        json      not null,
                metrics       json      not null,
                artifact_dir  varchar   not null,
                promoted_at   timestamp
            )""",
            """
            create table ml.predictions (
                run_id                varchar   not null,
                household_id          varchar   not null,
                step_at               timestamp not null,
                model_version         varchar   not null,
                predicted_class       integer   not null,
                p_normal              double    not null,
                p_temperature_failure double    not null,
                p_humidity_anomaly    double    not null,
                p_fridge_failure      double    not null,
                p_door_at_night       double    not null,
                p_fire                double    not null,
                confidence            double    not null,
                scored_at             timestamp not null
            )""",
            """
            create table ml.scored_batches (
                batch_id      varchar   not null,
                model_version varchar   not null,
                processed_at  timestamp not null,  -- the dbt build of the batch that was scored
                run_id        varchar   not null,
                scored_at     timestamp not null
            )""",
            """
            create table ml.score_runs (
                run_id        varchar primary key,
                model_version varchar   not null,
                model_file    varchar   not null,
                started_at    timestamp not null,
                finished_at   timestamp not null,
                households    integer   not null,
                steps_scored  bigint    not null,
                anomaly_steps bigint    not null
            )""",
            """
            create table ml.evaluation_metrics (
                run_id        varchar   not null,
                model_version varchar   not null,
                split         varchar   not null,
                method        varchar   not null,   -- 'classifier', 'rules', 'isolation_forest'
                level         varchar   not null,   -- 'step', 'event', 'hard_negative', 'overall'
                anomaly_class integer,
                metric        varchar   not null,
                value         double,
                support       bigint,
                evaluated_at  timestamp not null
            )""",
        ],
    ),
    (
        4,
        "ops: the batch job's runs and watermark",
        [
            "create schema if not exists ops",
            """
            create table ops.job_runs (
                run_id          varchar primary key,
                job             varchar   not null,  -- 'batch' (scheduled) or 'run' (the main job)
                started_at      timestamp not null,  -- UTC
                finished_at     timestamp,           -- null while running (or if the process died)
                status          varchar   not null,  -- running, succeeded, nothing_new, quality_failed, failed, abandoned
                step            varchar,             -- the step it was on when it stopped
                batches         json,                -- raw.batches ids it took in
                rows_in         bigint,              -- readings in those batches
                steps_scored    bigint,
                anomalies_found integer,             -- anomalies overlapping the new readings
                anomalies_by_class json,             -- e.g. {"fire": 1}
                watermark_from  timestamp,           -- batches landed after this ...
                watermark_to    timestamp,           -- ... up to this (raw.batches.finished_at) were taken in
                model_version   varchar,
                message         varchar,
                host            varchar,
                pid             integer
            )""",
        ],
    ),
    (
        5,
        "ml: where each model came from (trained here or imported from a package) and what it trained on",
        [
            # rows older than this migration were trained in this warehouse: the default says so
            "alter table ml.model_registry add column origin varchar default 'trained'",  # or 'imported'
            "alter table ml.model_registry add column imported_from varchar",      # the package path, if imported
            "alter table ml.model_registry add column package_sha256 varchar",     # digest of its manifest
            "alter table ml.model_registry add column grid_step_seconds integer",  # null (older rows): 300
            "alter table ml.model_registry add column training_data json",         # households, days, steps per class
        ],
    ),
    (
        6,
        "ops: the grid step the dbt tables are built on",
        [
            """
            create table ops.grid (
                step_seconds integer   not null,  -- the grid step of every dbt table (warehouse/grid.py)
                status       varchar   not null,  -- 'built'; 'building' (first build running or killed:
                                                  -- the next build resumes); 'rebuilding' (a full refresh
                                                  -- onto this step running or killed: the next build redoes it)
                recorded_at  timestamp not null,  -- UTC: when a build first ran on this step
                built_at     timestamp            -- UTC: when the last build on it finished
            )""",
        ],
    ),
    (
        7,
        "raw.ingest_watermarks: how far each Home Assistant recorder database has been read",
        [
            """
            create table raw.ingest_watermarks (
                source_ref            varchar primary key,  -- the database file's absolute path
                source_kind           varchar   not null,   -- 'homeassistant_recorder'
                states_through_id     bigint    not null,   -- the newest states.state_id read
                held_through          timestamp,            -- UTC: states were held (forward-filled) up to here
                statistics_through_ts double,               -- the newest statistics.start_ts read (epoch seconds)
                states_from_ts        double,               -- the oldest state at the first read: statistics
                                                            -- are read only before it
                batch_id              varchar   not null,   -- the load that moved the watermark last
                updated_at            timestamp not null,   -- UTC
                entity_sensors        json                  -- entity id -> sensor (null: not loaded) as
                                                            -- chosen last, kept by later ingests
            )""",
        ],
    ),
    (
        8,
        "ops: alerts with a lifecycle, their change log, the delivery outbox, snoozes, feedback and "
        "the adaptations feedback made (warehouse/alerts, docs/alerts.md)",
        [
            """
            create table ops.alerts (
                alert_id       integer primary key,  -- what people type: `homewatch alerts ack 12`
                household_id   varchar   not null,
                alert_class    varchar   not null,   -- a class name of warehouse/taxonomy.py, or
                                                     -- 'sensor_anomaly' / 'sensor_health' (generic layer)
                anomaly_class  integer   not null,   -- 1-5; 0 for the generic classes
                onset_at       timestamp not null,   -- UTC: the earliest start any detector saw
                end_at         timestamp not null,   -- UTC: moves while the incident goes on
                severity       varchar   not null,   -- 'low', 'medium', 'high'
                detectors      varchar[] not null,   -- e.g. [classifier, generic, rules]
                sources        varchar[] not null,   -- ids of the mart rows merged into it
                sensors        varchar[],
                observed_value double,               -- evidence at the strongest detector's peak
                expected_value double,
                evidence       varchar,              -- one line for people
                status         varchar   not null,   -- open, acknowledged, resolved, dismissed
                suppressed_by  varchar,              -- null (notified) or why not: stale, snooze,
                                                     -- quiet_hours, cooldown, feedback
                version        integer   not null,   -- +1 at each change that is delivered
                created_at     timestamp not null,   -- UTC, wall clock
                updated_at     timestamp not null,
                acknowledged_at timestamp,
                resolved_at    timestamp,
                dismissed_at   timestamp,
                status_note    varchar
            )""",
            """
            create table ops.alert_changes (
                alert_id   integer   not null,
                version    integer   not null,
                change     varchar   not null,  -- opened, escalated, corroborated, acknowledged,
                                                -- resolved, dismissed, reopened, updated
                changed_at timestamp not null,
                detail     varchar              -- what changed, or the note given
            )""",
            """
            create table ops.alert_outbox (
                delivery_id  varchar   not null,  -- '<alert_id>:<version>': the receiver's idempotency key
                sink         varchar   not null,  -- 'file', 'webhook', 'email'
                alert_id     integer   not null,
                version      integer   not null,
                change       varchar   not null,
                payload      json      not null,  -- the message; never a secret
                created_at   timestamp not null,
                attempts     integer   not null default 0,
                last_error   varchar,
                delivered_at timestamp,            -- set only after the sink accepted it
                primary key (delivery_id, sink)
            )""",
            """
            create table ops.alert_snoozes (
                snooze_id    integer primary key,
                household_id varchar   not null,
                sensor       varchar,              -- null: the whole household
                from_at      timestamp,            -- alerts with an onset in [from_at, until_at) are
                until_at     timestamp not null,   -- stored but not sent (null from_at: any onset before)
                created_at   timestamp not null,
                note         varchar
            )""",
            """
            create table ops.alert_feedback (
                feedback_id     integer primary key,
                alert_id        integer   not null,
                label           varchar   not null,  -- 'true', 'false', 'unsure'
                corrected_class varchar,             -- the class it really was, if given
                note            varchar,
                source          varchar   not null,  -- 'label', 'csv', 'dismiss'
                labelled_at     timestamp not null
            )""",
            """
            create table ops.alert_adaptations (
                adaptation_id  integer primary key,
                household_id   varchar   not null,
                alert_class    varchar   not null,
                kind           varchar   not null,  -- 'strictness', 'quiet_pattern' or 'duration_gate'
                hour_of_day    integer,             -- quiet_pattern: the local onset hour
                old_value      integer   not null,
                new_value      integer   not null,
                feedback_id    integer   not null,  -- the label that caused it
                reason         varchar   not null,
                created_at     timestamp not null
            )""",
        ],
    ),
    (
        9,
        "ml.predictions: whether the step's recent features were out of the model's training distribution",
        [
            # older predictions were made without the check: false, score unknown (null)
            "alter table ml.predictions add column is_out_of_distribution boolean default false",
            "alter table ml.predictions add column ood_score double",
        ],
    ),
    (
        10,
        "ops.alert_adaptations: the sensor a generic alert's adaptation is about (feedback per sensor)",
        [
            # null for a named class (per household and class) and for adaptations made before
            # this version (they act on every sensor of the household until its next label)
            "alter table ops.alert_adaptations add column sensor varchar",
        ],
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to this database (0 for a new one)."""
    if not has_table(con, "raw", "schema_migrations"):
        return 0
    return con.execute("select coalesce(max(version), 0) from raw.schema_migrations").fetchone()[0]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every pending migration; safe to call on every connection. Returns the version."""
    version = current_version(con)
    if version > SCHEMA_VERSION:
        raise WarehouseError(
            f"the warehouse schema is version {version}, newer than this code ({SCHEMA_VERSION}); "
            "upgrade HomeWatch before writing to it"
        )
    for number, description, statements in MIGRATIONS:
        if number <= version:
            continue
        with transaction(con):
            con.execute("create schema if not exists raw")
            con.execute(
                "create table if not exists raw.schema_migrations ("
                "version integer primary key, description varchar not null, "
                "applied_at timestamp not null)"
            )
            for statement in statements:
                con.execute(statement)
            con.execute(
                "insert into raw.schema_migrations values (?, ?, now()::timestamp)",
                [number, description],
            )
    return SCHEMA_VERSION
