using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Freshet.ControlPlane.Scheduler.Data.Migrations
{
    /// <inheritdoc />
    public partial class PlacementState : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_assignments_workers_worker_id",
                table: "assignments");

            migrationBuilder.AddColumn<long>(
                name: "assignments_version",
                table: "workers",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<bool>(
                name: "drain_requested",
                table: "workers",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "draining_since",
                table: "workers",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AlterColumn<Guid>(
                name: "worker_id",
                table: "assignments",
                type: "uuid",
                nullable: true,
                oldClrType: typeof(Guid),
                oldType: "uuid");

            migrationBuilder.AddColumn<bool>(
                name: "drop_requested",
                table: "assignments",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "move_requested_at",
                table: "assignments",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "move_to",
                table: "assignments",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "report",
                table: "assignments",
                type: "jsonb",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "reported_at",
                table: "assignments",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddForeignKey(
                name: "fk_assignments_workers_worker_id",
                table: "assignments",
                column: "worker_id",
                principalTable: "workers",
                principalColumn: "id",
                onDelete: ReferentialAction.SetNull);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_assignments_workers_worker_id",
                table: "assignments");

            migrationBuilder.DropColumn(
                name: "assignments_version",
                table: "workers");

            migrationBuilder.DropColumn(
                name: "drain_requested",
                table: "workers");

            migrationBuilder.DropColumn(
                name: "draining_since",
                table: "workers");

            migrationBuilder.DropColumn(
                name: "drop_requested",
                table: "assignments");

            migrationBuilder.DropColumn(
                name: "move_requested_at",
                table: "assignments");

            migrationBuilder.DropColumn(
                name: "move_to",
                table: "assignments");

            migrationBuilder.DropColumn(
                name: "report",
                table: "assignments");

            migrationBuilder.DropColumn(
                name: "reported_at",
                table: "assignments");

            migrationBuilder.AlterColumn<Guid>(
                name: "worker_id",
                table: "assignments",
                type: "uuid",
                nullable: false,
                defaultValue: new Guid("00000000-0000-0000-0000-000000000000"),
                oldClrType: typeof(Guid),
                oldType: "uuid",
                oldNullable: true);

            migrationBuilder.AddForeignKey(
                name: "fk_assignments_workers_worker_id",
                table: "assignments",
                column: "worker_id",
                principalTable: "workers",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);
        }
    }
}
