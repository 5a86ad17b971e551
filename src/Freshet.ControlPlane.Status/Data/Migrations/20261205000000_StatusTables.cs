using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Freshet.ControlPlane.Status.Data.Migrations;

/// <summary>
/// Current status per pipeline, its time series and its events. Keyed by pipeline id alone: every read reaches them
/// through a pipeline the API has already found in the caller's tenant (row-level security on pipelines is the wall).
/// </summary>
[DbContext(typeof(StatusDbContext))]
[Migration("20261205000000_StatusTables")]
internal sealed class StatusTables : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql(
            """
            CREATE TABLE pipeline_status (
                pipeline_id uuid PRIMARY KEY,
                worker_id uuid NOT NULL,
                epoch bigint NOT NULL,
                reported_at timestamp with time zone NOT NULL,
                received_at timestamp with time zone NOT NULL,
                report jsonb NOT NULL,
                last_progress_at timestamp with time zone,
                snapshot_started_at timestamp with time zone,
                consecutive_failed_reports integer NOT NULL DEFAULT 0,
                retries_since_previous bigint NOT NULL DEFAULT 0)
            -- Rewritten every few seconds per pipeline: room on each page for the new version keeps updates HOT (no
            -- index entry per update) and the table near its live size between vacuums.
            WITH (fillfactor = 50);

            -- One row per pipeline, resolution (step_seconds: 10, 60, 3600) and bucket; the latest report in a bucket
            -- wins for gauges, peaks keep their maximum.
            CREATE TABLE pipeline_status_points (
                pipeline_id uuid NOT NULL,
                step_seconds integer NOT NULL,
                bucket_start timestamp with time zone NOT NULL,
                reported_at timestamp with time zone NOT NULL,
                samples integer NOT NULL,
                lag_seconds double precision NOT NULL,
                lag_seconds_max double precision NOT NULL,
                lag_bytes bigint,
                rows_per_second double precision NOT NULL,
                bytes_per_second double precision NOT NULL,
                errors bigint NOT NULL,
                retained_wal_bytes bigint,
                PRIMARY KEY (pipeline_id, step_seconds, bucket_start));
            CREATE INDEX ix_pipeline_status_points_step_bucket ON pipeline_status_points (step_seconds, bucket_start);

            -- How far each coarse resolution has been rolled up from the finer one (StatusMaintenance).
            CREATE TABLE status_rollup_watermarks (
                step_seconds integer PRIMARY KEY,
                rolled_until timestamp with time zone);

            CREATE TABLE pipeline_events (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                pipeline_id uuid NOT NULL,
                occurred_at timestamp with time zone NOT NULL,
                kind text NOT NULL,
                message text NOT NULL,
                worker_id uuid,
                epoch bigint,
                -- A report seen twice records its events once.
                CONSTRAINT uq_pipeline_events_once UNIQUE (pipeline_id, kind, occurred_at, message));
            CREATE INDEX ix_pipeline_events_pipeline_time ON pipeline_events (pipeline_id, occurred_at DESC, id DESC);
            """);

    protected override void Down(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql("DROP TABLE pipeline_events; DROP TABLE status_rollup_watermarks; DROP TABLE pipeline_status_points; DROP TABLE pipeline_status;");
}
