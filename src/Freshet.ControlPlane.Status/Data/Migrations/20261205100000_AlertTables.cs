using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Freshet.ControlPlane.Status.Data.Migrations;

/// <summary>
/// What alert evaluation remembers (the rules themselves are the API module's): since when each rule's condition holds
/// on each pipeline, the alerts it opened and resolved, and an outbox of notifications with every delivery attempt.
/// Rows carry the tenant so that history reads are confined to one tenant by the query itself.
/// </summary>
[DbContext(typeof(StatusDbContext))]
[Migration("20261205100000_AlertTables")]
internal sealed class AlertTables : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql(
            """
            -- A rule's condition holding on a pipeline but not yet for the rule's duration (or held, with an alert open).
            CREATE TABLE alert_conditions (
                rule_id uuid NOT NULL,
                pipeline_id uuid NOT NULL,
                since timestamp with time zone NOT NULL,
                PRIMARY KEY (rule_id, pipeline_id));

            CREATE TABLE alert_incidents (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant_id uuid NOT NULL,
                rule_id uuid NOT NULL,
                rule_name text NOT NULL,
                pipeline_id uuid NOT NULL,
                pipeline_name text NOT NULL,
                condition_since timestamp with time zone NOT NULL,
                opened_at timestamp with time zone NOT NULL,
                resolved_at timestamp with time zone,
                resolution text,
                summary text NOT NULL,
                value double precision,
                notified boolean NOT NULL);
            -- At most one open alert per rule and pipeline.
            CREATE UNIQUE INDEX uq_alert_incidents_open ON alert_incidents (rule_id, pipeline_id) WHERE resolved_at IS NULL;
            CREATE INDEX ix_alert_incidents_tenant ON alert_incidents (tenant_id, id DESC);

            -- The outbox: written in the evaluation's transaction, posted afterwards by whichever replica claims it first.
            CREATE TABLE alert_notifications (
                id uuid PRIMARY KEY,
                tenant_id uuid NOT NULL,
                rule_id uuid NOT NULL,
                incident_id bigint REFERENCES alert_incidents (id) ON DELETE CASCADE,
                pipeline_id uuid,
                type text NOT NULL,
                payload jsonb NOT NULL,
                state text NOT NULL,
                created_at timestamp with time zone NOT NULL,
                claimed_until timestamp with time zone,
                completed_at timestamp with time zone);
            CREATE INDEX ix_alert_notifications_pending ON alert_notifications (created_at) WHERE state = 'pending';
            CREATE INDEX ix_alert_notifications_rule ON alert_notifications (tenant_id, rule_id, created_at DESC);

            CREATE TABLE alert_delivery_attempts (
                notification_id uuid NOT NULL REFERENCES alert_notifications (id) ON DELETE CASCADE,
                attempt integer NOT NULL,
                at timestamp with time zone NOT NULL,
                status_code integer,
                error text,
                duration_ms double precision NOT NULL,
                PRIMARY KEY (notification_id, attempt));
            """);

    protected override void Down(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql("DROP TABLE alert_delivery_attempts; DROP TABLE alert_notifications; DROP TABLE alert_incidents; DROP TABLE alert_conditions;");
}
