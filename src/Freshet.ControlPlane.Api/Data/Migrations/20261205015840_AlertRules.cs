using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Freshet.ControlPlane.Api.Data.Migrations
{
    /// <inheritdoc />
    public partial class AlertRules : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "alert_rules",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    condition = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    threshold = table.Column<double>(type: "double precision", nullable: true),
                    states = table.Column<string>(type: "jsonb", nullable: false),
                    for_seconds = table.Column<int>(type: "integer", nullable: false),
                    quiet_period_seconds = table.Column<int>(type: "integer", nullable: false),
                    pipeline_id = table.Column<Guid>(type: "uuid", nullable: true),
                    webhook_url = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: false),
                    encrypted_signing_secret = table.Column<byte[]>(type: "bytea", nullable: false),
                    enabled = table.Column<bool>(type: "boolean", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<string>(type: "character varying(300)", maxLength: 300, nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    secret_rotated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_alert_rules", x => x.id);
                    table.ForeignKey(
                        name: "fk_alert_rules_pipelines_pipeline_id",
                        column: x => x.pipeline_id,
                        principalTable: "pipelines",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_alert_rules_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_alert_rules_pipeline_id",
                table: "alert_rules",
                column: "pipeline_id");

            migrationBuilder.CreateIndex(
                name: "ix_alert_rules_tenant_id_name",
                table: "alert_rules",
                columns: new[] { "tenant_id", "name" },
                unique: true);

            // The second tenancy wall, as on every tenant-owned table (RowLevelSecurity).
            migrationBuilder.Sql(Freshet.ControlPlane.Api.Data.RowLevelSecurity.Enable("alert_rules"));
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(Freshet.ControlPlane.Api.Data.RowLevelSecurity.Disable("alert_rules"));
            migrationBuilder.DropTable(
                name: "alert_rules");
        }
    }
}
