using System.Globalization;

namespace Freshet.Contracts;

/// <summary>One thing a MySQL/MariaDB server or login must be set to, and whether it is.</summary>
/// <param name="Name">Stable name of the check, e.g. <c>binlog_format</c>.</param>
/// <param name="Passed">Whether the server or login is set as needed.</param>
/// <param name="Detail">What was found, e.g. <c>binlog_format is STATEMENT but must be ROW</c>.</param>
/// <param name="Fix">The statement or setting that repairs it; null when passed.</param>
public sealed record MySqlPrerequisiteCheck(string Name, bool Passed, string Detail, string? Fix = null)
{
    /// <summary>The problem as one sentence: what is wrong, then how to fix it.</summary>
    public override string ToString() => Fix is null ? Detail : $"{Detail}: {Fix}";
}

/// <summary>
/// What a MySQL/MariaDB server must be set to for a pipeline to read it, checked from its global variables and the
/// login's global privileges; every problem is reported at once, each with the setting to change. Shared here because
/// the data plane checks it before a pipeline starts and the control plane's connection test shows the same list, and
/// neither may reference the other; it needs nothing but the values, so each side runs its own queries.
/// </summary>
public static class MySqlPrerequisites
{
    /// <summary>Less binlog retention than this leaves too little time to notice and fix a stopped pipeline.</summary>
    public static readonly TimeSpan MinimumRetention = TimeSpan.FromDays(1);

    /// <summary>The query that reads the global variables the checks need (name, value rows).</summary>
    public const string VariablesSql =
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'server_id', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata', "
        + "'binlog_checksum', 'binlog_expire_logs_seconds', 'expire_logs_days')";

    /// <summary>Only the checks that failed, each as one sentence with its fix.</summary>
    /// <param name="variables">Global variables by lower-case name (absent when the server does not know one).</param>
    /// <param name="privileges">The login's global privileges, upper case (<c>REPLICATION SLAVE</c>, <c>SELECT</c>…).</param>
    /// <param name="user">The login, for the GRANT statements the messages suggest.</param>
    /// <param name="serverVersion">The server's version string; its check is left out when null.</param>
    public static IReadOnlyList<string> Problems(IReadOnlyDictionary<string, string> variables, IReadOnlySet<string> privileges, string user, string? serverVersion = null) =>
        Evaluate(variables, privileges, user, serverVersion).Where(c => !c.Passed).Select(c => c.ToString()).ToList();

    /// <summary>Every check, passed or not, in the order a user should fix them.</summary>
    /// <param name="variables">Global variables by lower-case name (absent when the server does not know one).</param>
    /// <param name="privileges">The login's global privileges, upper case (<c>REPLICATION SLAVE</c>, <c>SELECT</c>…).</param>
    /// <param name="user">The login, for the GRANT statements the messages suggest.</param>
    /// <param name="serverVersion">The server's version string; its check is left out when null.</param>
    public static IReadOnlyList<MySqlPrerequisiteCheck> Evaluate(IReadOnlyDictionary<string, string> variables, IReadOnlySet<string> privileges, string user, string? serverVersion = null)
    {
        var checks = new List<MySqlPrerequisiteCheck>();
        string? Get(string name) => variables.TryGetValue(name, out var value) ? value : null;
        bool Is(string name, string expected) => string.Equals(Get(name), expected, StringComparison.OrdinalIgnoreCase);
        void Add(string name, bool passed, string passedDetail, string failedDetail, string fix) =>
            checks.Add(passed ? new(name, true, passedDetail) : new(name, false, failedDetail, fix));

        if (serverVersion is not null)
        {
            checks.Add(VersionCheck(serverVersion));
        }

        Add("log_bin", Is("log_bin", "ON") || Is("log_bin", "1"), "log_bin is ON.",
            "log_bin is OFF", "start the server with log_bin (e.g. log_bin=binlog in my.cnf) and restart it.");

        // A server without a server_id (0) writes no binlog MySQL lets replicas read; an unknown one (not asked) passes.
        var serverId = Get("server_id");
        Add("server_id", serverId is null || serverId != "0", $"The server's server_id is {serverId ?? "set"}.",
            "The server's server_id is 0, so it refuses replicas", "set server_id to a unique non-zero number in my.cnf and restart it.");

        Add("binlog_format", Is("binlog_format", "ROW"), "binlog_format is ROW.",
            $"binlog_format is {Get("binlog_format") ?? "unknown"} but must be ROW", "SET GLOBAL binlog_format = 'ROW' and put binlog_format=ROW in my.cnf.");

        Add("binlog_row_image", Is("binlog_row_image", "FULL"), "binlog_row_image is FULL.",
            $"binlog_row_image is {Get("binlog_row_image") ?? "unknown"} but must be FULL", "SET GLOBAL binlog_row_image = 'FULL' and put it in my.cnf.");

        Add("binlog_row_metadata", Is("binlog_row_metadata", "FULL"), "binlog_row_metadata is FULL.",
            $"binlog_row_metadata is {Get("binlog_row_metadata") ?? "unknown (MariaDB 10.5+ or MySQL 8.0.1+ is needed)"} but must be FULL "
            + "(the binlog then names each column, so changes cannot be mapped to the wrong one)",
            "SET GLOBAL binlog_row_metadata = 'FULL' and put it in my.cnf.");

        Add("binlog_checksum", Is("binlog_checksum", "CRC32"), "binlog_checksum is CRC32.",
            $"binlog_checksum is {Get("binlog_checksum") ?? "unknown"} but must be CRC32, so every event read is verified", "SET GLOBAL binlog_checksum = 'CRC32'.");

        var retention = Retention(variables);
        Add("binlog_retention", retention is not { } kept || kept >= MinimumRetention,
            retention is { } r ? $"Binlogs are kept {r.TotalHours:0.#} h." : "Binlogs are kept until purged (no expiry set).",
            $"binlogs are kept only {retention?.TotalHours:0.#} h (binlog_expire_logs_seconds / expire_logs_days); keep them at least "
            + $"{MinimumRetention.TotalHours:0} h so a stopped pipeline can resume",
            "SET GLOBAL binlog_expire_logs_seconds = 604800.");

        var all = privileges.Contains("ALL PRIVILEGES");
        Add("replication_slave", all || privileges.Contains("REPLICATION SLAVE") || privileges.Contains("REPLICATION REPLICA"),
            $"{user} may read the binlog (REPLICATION SLAVE).",
            $"the login {user} lacks REPLICATION SLAVE (needed to read the binlog)", $"GRANT REPLICATION SLAVE ON *.* TO {user}.");

        // MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR (the old name is an alias); either lets the login read
        // the binlog position (SHOW MASTER STATUS, SHOW BINARY LOGS).
        Add("replication_client", all || privileges.Contains("REPLICATION CLIENT") || privileges.Contains("BINLOG MONITOR"),
            $"{user} may read binlog positions (REPLICATION CLIENT / BINLOG MONITOR).",
            $"the login {user} lacks REPLICATION CLIENT (BINLOG MONITOR on MariaDB 10.5+; needed to read binlog positions)",
            $"GRANT REPLICATION CLIENT ON *.* TO {user}.");

        // MySQL has no status giving a consistent snapshot's binlog position (MariaDB's binlog_snapshot_*), so a snapshot
        // reads it under FLUSH TABLES WITH READ LOCK, held for the milliseconds the position takes.
        if (serverVersion is not null && !serverVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase))
        {
            Add("reload", all || privileges.Contains("RELOAD"),
                $"{user} may hold the brief global read lock a snapshot's binlog position needs (RELOAD).",
                $"the login {user} lacks RELOAD (on MySQL a snapshot reads its binlog position under FLUSH TABLES WITH READ LOCK, held for milliseconds)",
                $"GRANT RELOAD ON *.* TO {user}.");
        }

        return checks;
    }

    /// <summary>How long binlogs are kept; null when forever (both settings 0).</summary>
    /// <param name="variables">Global variables by lower-case name.</param>
    public static TimeSpan? Retention(IReadOnlyDictionary<string, string> variables)
    {
        static double Number(IReadOnlyDictionary<string, string> v, string name) =>
            v.TryGetValue(name, out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n : 0;

        var seconds = Number(variables, "binlog_expire_logs_seconds");
        if (seconds <= 0)
        {
            seconds = Number(variables, "expire_logs_days") * 86_400;
        }

        return seconds > 0 ? TimeSpan.FromSeconds(seconds) : null;
    }

    /// <summary>MariaDB 10.5 and MySQL 8.0.1 are the first to write column names into the binlog (binlog_row_metadata).</summary>
    private static MySqlPrerequisiteCheck VersionCheck(string version)
    {
        // MariaDB's handshake prefixes its version with 5.5.5- so that old MySQL clients do not take 10.x for 1.0.
        const string HandshakePrefix = "5.5.5-";
        var mariaDb = version.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);
        if (mariaDb && version.StartsWith(HandshakePrefix, StringComparison.Ordinal))
        {
            version = version[HandshakePrefix.Length..];
        }

        var product = mariaDb ? "MariaDB" : "MySQL";
        var digits = new string(version.TakeWhile(c => char.IsDigit(c) || c == '.').ToArray());
        if (!Version.TryParse(digits.Count(c => c == '.') == 0 ? digits + ".0" : digits, out var parsed))
        {
            return new("server_version", false, $"The server's version {version} is not understood", "Use MariaDB 10.5+ or MySQL 8.0.1+.");
        }

        var needed = mariaDb ? new Version(10, 5) : new Version(8, 0, 1);
        return parsed >= needed
            ? new("server_version", true, $"{product} {version} writes the row metadata the source needs.")
            : new("server_version", false, $"{product} {version} is older than {needed}, which is the first to write binlog_row_metadata", $"Upgrade the server to {product} {needed} or later.");
    }
}
