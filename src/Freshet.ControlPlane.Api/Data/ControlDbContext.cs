using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Alerts;
using Freshet.ControlPlane.Api.ApiClients;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Connections;
using Freshet.ControlPlane.Api.Members;
using Freshet.ControlPlane.Api.Pipelines;
using Freshet.ControlPlane.Api.Tenancy;
using Freshet.ControlPlane.Api.Tenants;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freshet.ControlPlane.Api.Data;

/// <summary>
/// The API module's store: tenants, identity, OpenIddict, connections, pipelines, audit. Tenant-owned sets are
/// filtered by <see cref="CurrentTenantId"/>; <see cref="TenantSessionInterceptor"/> sets the same tenant on every
/// opened connection so that row-level security holds even for a query that forgot the filter.
/// </summary>
internal sealed class ControlDbContext(DbContextOptions<ControlDbContext> options, TenantContext tenant)
    : IdentityDbContext<ApplicationUser, IdentityRole<Guid>, Guid>(options), IDataProtectionKeyContext
{
    public const string MigrationsHistoryTable = "__api_migrations";

    public TenantContext Tenant { get; } = tenant;

    // Read by the query filters at query time (EF parameterises members of the context).
    private Guid? CurrentTenantId => Tenant.TenantId;

    private bool BypassTenantWall => Tenant.BypassesTenantWall;

    public DbSet<Tenant> Tenants => Set<Tenant>();

    public DbSet<Membership> Memberships => Set<Membership>();

    public DbSet<ApiClient> ApiClients => Set<ApiClient>();

    public DbSet<Connection> Connections => Set<Connection>();

    public DbSet<Pipeline> Pipelines => Set<Pipeline>();

    public DbSet<PipelineRevision> PipelineRevisions => Set<PipelineRevision>();

    public DbSet<SnapshotRequest> SnapshotRequests => Set<SnapshotRequest>();

    public DbSet<AlertRule> AlertRules => Set<AlertRule>();

    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();

    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();

    /// <summary>Data Protection keys (cookies, antiforgery) shared by every replica of the control plane.</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.UseOpenIddict<Guid>();

        builder.Entity<ApplicationUser>(user =>
        {
            user.ToTable("users");
            user.Property(u => u.DisplayName).HasMaxLength(200);
            user.Property(u => u.PlatformRole).HasConversion<string>().HasMaxLength(32);
        });
        builder.Entity<IdentityRole<Guid>>().ToTable("roles");
        builder.Entity<IdentityUserRole<Guid>>().ToTable("user_roles");
        builder.Entity<IdentityUserClaim<Guid>>().ToTable("user_claims");
        builder.Entity<IdentityUserLogin<Guid>>().ToTable("user_logins");
        builder.Entity<IdentityUserToken<Guid>>().ToTable("user_tokens");
        builder.Entity<IdentityRoleClaim<Guid>>().ToTable("role_claims");

        builder.Entity<Tenant>(tenant =>
        {
            tenant.Property(t => t.Slug).HasMaxLength(63);
            tenant.Property(t => t.Name).HasMaxLength(200);
            tenant.HasIndex(t => t.Slug).IsUnique();
            tenant.Property(t => t.Version).IsConcurrencyToken();
        });

        builder.Entity<Membership>(membership =>
        {
            membership.HasKey(m => new { m.TenantId, m.UserId });
            membership.Property(m => m.Role).HasConversion<string>().HasMaxLength(32);
            membership.HasOne<Tenant>().WithMany().HasForeignKey(m => m.TenantId).OnDelete(DeleteBehavior.Cascade);
            membership.HasOne(m => m.User).WithMany().HasForeignKey(m => m.UserId).OnDelete(DeleteBehavior.Cascade);
            membership.HasIndex(m => m.UserId);
            membership.Property(m => m.Version).IsConcurrencyToken();
            TenantWall(membership);
        });

        builder.Entity<ApiClient>(client =>
        {
            client.Property(c => c.Name).HasMaxLength(200);
            client.Property(c => c.ClientId).HasMaxLength(100);
            client.Property(c => c.CreatedBy).HasMaxLength(300);
            client.HasIndex(c => c.ClientId).IsUnique();
            client.HasIndex(c => c.TenantId);
            client.Property(c => c.Role).HasConversion<string>().HasMaxLength(32);
            client.Property(c => c.PlatformRole).HasConversion<string>().HasMaxLength(32);
            client.HasOne<Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
            client.Property(c => c.Version).IsConcurrencyToken();
            // Platform clients (no tenant) are visible only in platform scope.
            client.HasQueryFilter(c => BypassTenantWall || c.TenantId == CurrentTenantId);
        });

        builder.Entity<Connection>(connection =>
        {
            connection.Property(c => c.Name).HasMaxLength(200);
            connection.Property(c => c.Kind).HasConversion<string>().HasMaxLength(32);
            connection.Property(c => c.Type).HasConversion<string>().HasMaxLength(32);
            connection.Property(c => c.Settings).HasColumnType("jsonb").HasConversion(JsonObjectConverter(), JsonObjectComparer());
            connection.HasIndex(c => new { c.TenantId, c.Name }).IsUnique();
            connection.HasOne<Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
            connection.Property(c => c.Version).IsConcurrencyToken();
            TenantWall(connection);
        });

        builder.Entity<Pipeline>(pipeline =>
        {
            pipeline.Property(p => p.Name).HasMaxLength(200);
            pipeline.Property(p => p.DeleteMode).HasConversion<string>().HasMaxLength(32);
            pipeline.Property(p => p.SchemaChangePolicy).HasConversion<string>().HasMaxLength(32);
            pipeline.Property(p => p.DesiredState).HasConversion<string>().HasMaxLength(32);
            pipeline.Property(p => p.Tables).HasColumnType("jsonb").HasConversion(
                tables => JsonSerializer.Serialize(tables, StorageJson.Options),
                json => JsonSerializer.Deserialize<List<PipelineTable>>(json, StorageJson.Options) ?? new List<PipelineTable>(),
                new ValueComparer<List<PipelineTable>>(
                    (left, right) => JsonSerializer.Serialize(left, StorageJson.Options) == JsonSerializer.Serialize(right, StorageJson.Options),
                    tables => JsonSerializer.Serialize(tables, StorageJson.Options).GetHashCode(StringComparison.Ordinal),
                    tables => JsonSerializer.Deserialize<List<PipelineTable>>(JsonSerializer.Serialize(tables, StorageJson.Options), StorageJson.Options)!));
            pipeline.HasIndex(p => new { p.TenantId, p.Name }).IsUnique();
            // Restrict: a connection in use cannot vanish under a pipeline (the API answers 409 first).
            pipeline.HasOne<Connection>().WithMany().HasForeignKey(p => p.SourceConnectionId).OnDelete(DeleteBehavior.Restrict);
            pipeline.HasOne<Connection>().WithMany().HasForeignKey(p => p.DestinationConnectionId).OnDelete(DeleteBehavior.Restrict);
            pipeline.HasOne<Tenant>().WithMany().HasForeignKey(p => p.TenantId).OnDelete(DeleteBehavior.Cascade);
            pipeline.Property(p => p.Version).IsConcurrencyToken();
            TenantWall(pipeline);
        });

        builder.Entity<PipelineRevision>(revision =>
        {
            revision.Property(r => r.Spec).HasColumnType("jsonb");
            revision.Property(r => r.Change).HasMaxLength(2000);
            revision.Property(r => r.CreatedBy).HasMaxLength(300);
            revision.HasIndex(r => new { r.PipelineId, r.Generation }).IsUnique();
            revision.HasOne<Pipeline>().WithMany().HasForeignKey(r => r.PipelineId).OnDelete(DeleteBehavior.Cascade);
            TenantWall(revision);
        });

        builder.Entity<SnapshotRequest>(request =>
        {
            request.Property(r => r.SchemaName).HasMaxLength(128);
            request.Property(r => r.TableName).HasMaxLength(128);
            request.Property(r => r.RequestedBy).HasMaxLength(300);
            request.HasIndex(r => new { r.PipelineId, r.CompletedAt });
            request.HasOne<Pipeline>().WithMany().HasForeignKey(r => r.PipelineId).OnDelete(DeleteBehavior.Cascade);
            TenantWall(request);
        });

        builder.Entity<AlertRule>(rule =>
        {
            rule.Property(r => r.Name).HasMaxLength(200);
            rule.Property(r => r.Condition).HasConversion<string>().HasMaxLength(32);
            rule.Property(r => r.States).HasColumnType("jsonb").HasConversion(
                states => JsonSerializer.Serialize(states, StorageJson.Options),
                json => JsonSerializer.Deserialize<List<PipelineHealthState>>(json, StorageJson.Options) ?? new List<PipelineHealthState>(),
                new ValueComparer<List<PipelineHealthState>>((left, right) => left!.SequenceEqual(right!), states => states.Count, states => states.ToList()));
            rule.Property(r => r.WebhookUrl).HasMaxLength(AlertRulesApi.MaxUrlLength);
            rule.Property(r => r.CreatedBy).HasMaxLength(300);
            rule.HasIndex(r => new { r.TenantId, r.Name }).IsUnique();
            rule.HasOne<Tenant>().WithMany().HasForeignKey(r => r.TenantId).OnDelete(DeleteBehavior.Cascade);
            // A rule watching one pipeline goes with it.
            rule.HasOne<Pipeline>().WithMany().HasForeignKey(r => r.PipelineId).OnDelete(DeleteBehavior.Cascade);
            rule.Property(r => r.Version).IsConcurrencyToken();
            TenantWall(rule);
        });

        builder.Entity<AuditEvent>(audit =>
        {
            audit.Property(a => a.ActorType).HasMaxLength(16);
            audit.Property(a => a.ActorId).HasMaxLength(100);
            audit.Property(a => a.ActorName).HasMaxLength(300);
            audit.Property(a => a.Action).HasMaxLength(100);
            audit.Property(a => a.ResourceType).HasMaxLength(50);
            audit.Property(a => a.ResourceId).HasMaxLength(100);
            audit.Property(a => a.IpAddress).HasMaxLength(64);
            audit.Property(a => a.Details).HasColumnType("jsonb").HasConversion(NullableJsonObjectConverter(), NullableJsonObjectComparer());
            audit.HasIndex(a => new { a.TenantId, a.OccurredAt });
            audit.HasQueryFilter(a => BypassTenantWall || a.TenantId == CurrentTenantId);
        });

        builder.Entity<IdempotencyRecord>(record =>
        {
            record.Property(r => r.Scope).HasMaxLength(200);
            record.Property(r => r.Key).HasMaxLength(255);
            record.Property(r => r.RequestHash).HasMaxLength(64);
            record.HasIndex(r => new { r.Scope, r.Key }).IsUnique();
            record.HasIndex(r => r.ExpiresAt);
        });
    }

    private void TenantWall<T>(EntityTypeBuilder<T> entity)
        where T : class, ITenantOwned =>
        entity.HasQueryFilter(e => BypassTenantWall || e.TenantId == CurrentTenantId);

    private static Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<JsonObject, string> JsonObjectConverter() =>
        new(value => value.ToJsonString(StorageJson.Options), json => (JsonNode.Parse(json, null, default) as JsonObject) ?? new JsonObject());

    private static ValueComparer<JsonObject> JsonObjectComparer() =>
        new((left, right) => JsonNode.DeepEquals(left, right), value => value.ToJsonString(StorageJson.Options).GetHashCode(StringComparison.Ordinal), value => (JsonObject)value.DeepClone());

    private static Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<JsonObject?, string?> NullableJsonObjectConverter() =>
        new(value => value == null ? null : value.ToJsonString(StorageJson.Options), json => json == null ? null : JsonNode.Parse(json, null, default) as JsonObject);

    private static ValueComparer<JsonObject?> NullableJsonObjectComparer() =>
        new((left, right) => JsonNode.DeepEquals(left, right), value => value == null ? 0 : value.ToJsonString(StorageJson.Options).GetHashCode(StringComparison.Ordinal), value => value == null ? null : (JsonObject)value.DeepClone());
}

/// <summary>JSON as stored in jsonb columns: snake_case like the API, enums as strings.</summary>
internal static class StorageJson
{
    // The resolver is explicit: a JsonValue built from a CLR value (a normalised connection setting) serialises through
    // these options, and options without a resolver are refused there in the standalone host (not in the test host).
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };
}
