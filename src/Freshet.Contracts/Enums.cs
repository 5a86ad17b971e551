namespace Freshet.Contracts;

/// <summary>What a member or API client may do inside one tenant, from least to most.</summary>
public enum TenantRole
{
    /// <summary>Reads everything in the tenant.</summary>
    Viewer = 0,
    /// <summary>Also changes connections and pipelines.</summary>
    Editor = 1,
    /// <summary>Also manages members and API clients.</summary>
    Admin = 2,
    /// <summary>Also manages the tenant itself.</summary>
    Owner = 3,
}

/// <summary>What a person or client may do across tenants.</summary>
public enum PlatformRole
{
    /// <summary>No platform-wide rights.</summary>
    None = 0,
    /// <summary>Reads every tenant, read-only; every read is audited.</summary>
    Support = 1,
    /// <summary>Manages tenants, and reads every tenant like support.</summary>
    PlatformAdmin = 2,
}

/// <summary>Whether a connection is read from or written to.</summary>
public enum ConnectionKind
{
    /// <summary>An operational database whose log is read.</summary>
    Source = 0,
    /// <summary>An analytics store that changes are applied to.</summary>
    Destination = 1,
}

/// <summary>The database or service behind a connection.</summary>
public enum ConnectionType
{
    /// <summary>PostgreSQL (source or destination).</summary>
    Postgres = 0,
    /// <summary>MySQL or MariaDB (source).</summary>
    Mysql = 1,
    /// <summary>Snowflake (destination).</summary>
    Snowflake = 2,
    /// <summary>BigQuery (destination).</summary>
    Bigquery = 3,
    /// <summary>An embedded DuckDB file (destination).</summary>
    Duckdb = 4,
}

/// <summary>How a delete at the source shows in the destination.</summary>
public enum DeleteMode
{
    /// <summary>The destination row is removed.</summary>
    Hard = 0,
    /// <summary>The destination row stays, marked deleted with a timestamp.</summary>
    Soft = 1,
}

/// <summary>What a pipeline does when a source table's columns change.</summary>
public enum SchemaChangePolicy
{
    /// <summary>Add, drop and retype destination columns to follow the source.</summary>
    Propagate = 0,
    /// <summary>Add new columns; never drop or retype (dropped columns become null).</summary>
    AddColumnsOnly = 1,
    /// <summary>Keep the destination schema; new columns are not replicated.</summary>
    Ignore = 2,
    /// <summary>Stop the affected table (quarantine) until someone decides.</summary>
    Quarantine = 3,
}

/// <summary>Whether a pipeline should be running.</summary>
public enum DesiredState
{
    /// <summary>Placed on a worker and streaming.</summary>
    Running = 0,
    /// <summary>Held: not placed, position kept.</summary>
    Paused = 1,
}
