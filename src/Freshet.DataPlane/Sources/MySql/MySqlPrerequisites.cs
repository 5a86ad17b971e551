using System.Globalization;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// What a MySQL/MariaDB server must be set to for a pipeline to read it, checked from its global variables and the
/// login's global privileges; every problem is reported at once, each with the setting to change.
/// </summary>
internal static class MySqlPrerequisites
{
    /// <summary>Less binlog retention than this leaves too little time to notice and fix a stopped pipeline.</summary>
    public static readonly TimeSpan MinimumRetention = TimeSpan.FromDays(1);

    /// <param name="variables">Global variables by lower-case name (absent when the server does not know one).</param>
    /// <param name="privileges">The login's global privileges, upper case (<c>REPLICATION SLAVE</c>, <c>SELECT</c>…).</param>
    /// <param name="user">The login, for the GRANT statements the messages suggest.</param>
    public static IReadOnlyList<string> Problems(IReadOnlyDictionary<string, string> variables, IReadOnlySet<string> privileges, string user)
    {
        var problems = new List<string>();
        string? Get(string name) => variables.TryGetValue(name, out var value) ? value : null;
        bool Is(string name, string expected) => string.Equals(Get(name), expected, StringComparison.OrdinalIgnoreCase);

        if (!Is("log_bin", "ON") && !Is("log_bin", "1"))
        {
            problems.Add("log_bin is OFF: start the server with log_bin (e.g. log_bin=binlog in my.cnf) and restart it.");
        }

        if (!Is("binlog_format", "ROW"))
        {
            problems.Add($"binlog_format is {Get("binlog_format") ?? "unknown"} but must be ROW: SET GLOBAL binlog_format = 'ROW' and put binlog_format=ROW in my.cnf.");
        }

        if (!Is("binlog_row_image", "FULL"))
        {
            problems.Add($"binlog_row_image is {Get("binlog_row_image") ?? "unknown"} but must be FULL: SET GLOBAL binlog_row_image = 'FULL' and put it in my.cnf.");
        }

        if (!Is("binlog_row_metadata", "FULL"))
        {
            problems.Add($"binlog_row_metadata is {Get("binlog_row_metadata") ?? "unknown (MariaDB 10.5+ or MySQL 8.0.1+ is needed)"} but must be FULL "
                + "(the binlog then names each column, so changes cannot be mapped to the wrong one): SET GLOBAL binlog_row_metadata = 'FULL' and put it in my.cnf.");
        }

        if (!Is("binlog_checksum", "CRC32"))
        {
            problems.Add($"binlog_checksum is {Get("binlog_checksum") ?? "unknown"} but must be CRC32, so every event read is verified: SET GLOBAL binlog_checksum = 'CRC32'.");
        }

        var retention = Retention(variables);
        if (retention is { } kept && kept < MinimumRetention)
        {
            problems.Add($"binlogs are kept only {kept.TotalHours:0.#} h (binlog_expire_logs_seconds / expire_logs_days); keep them at least "
                + $"{MinimumRetention.TotalHours:0} h so a stopped pipeline can resume: SET GLOBAL binlog_expire_logs_seconds = 604800.");
        }

        var all = privileges.Contains("ALL PRIVILEGES");
        if (!all && !privileges.Contains("REPLICATION SLAVE") && !privileges.Contains("REPLICATION REPLICA"))
        {
            problems.Add($"the login {user} lacks REPLICATION SLAVE (needed to read the binlog): GRANT REPLICATION SLAVE ON *.* TO {user}.");
        }

        // MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR (the old name is an alias); either lets the login read
        // the binlog position (SHOW MASTER STATUS, SHOW BINARY LOGS).
        if (!all && !privileges.Contains("REPLICATION CLIENT") && !privileges.Contains("BINLOG MONITOR"))
        {
            problems.Add($"the login {user} lacks REPLICATION CLIENT (BINLOG MONITOR on MariaDB 10.5+; needed to read binlog positions): GRANT REPLICATION CLIENT ON *.* TO {user}.");
        }

        return problems;
    }

    /// <summary>How long binlogs are kept; null when forever (both settings 0).</summary>
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
}
