using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Freshet.ControlPlane.Scheduler.Data.Migrations;

/// <summary>
/// The scheduler's leader lease: one row, written only through SQL by <see cref="Leadership.SchedulerLeadership"/>
/// (it is not part of the EF model, so the model snapshot does not change).
/// </summary>
[DbContext(typeof(SchedulerDbContext))]
[Migration("20261125043000_SchedulerLeader")]
internal sealed class SchedulerLeader : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql(
            """
            CREATE TABLE scheduler_leader (
                id integer PRIMARY KEY CHECK (id = 1),
                holder uuid NOT NULL,
                holder_name text NOT NULL,
                term bigint NOT NULL,
                acquired_at timestamp with time zone NOT NULL,
                renewed_at timestamp with time zone NOT NULL,
                expires_at timestamp with time zone NOT NULL);
            """);

    protected override void Down(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql("DROP TABLE scheduler_leader;");
}
