using System.Text.Json;
using Freshet.Console.Api;

namespace Freshet.Console.Tests.Components.Connections;

/// <summary>
/// The connection types as <c>GET /v1/connection-types</c> answers them, read through the console's own JSON options,
/// so the form is exercised on the wire shape. (A subset of each type's settings, format patterns copied from the API's
/// ConnectionTypes; the browser test runs the real list, and the API's ConnectionTypePatternTests check that what the API
/// publishes is what it enforces.)
/// </summary>
internal static class ConnectionTypesFixture
{
    private const string Json = """
        [
          {"type":"postgres","display_name":"PostgreSQL","kinds":["source","destination"],
           "settings":[
             {"name":"host","kind":"string","required":true,"description":"Host name or IP address of the server.","pattern":"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?)*$|^\\[?[0-9A-Fa-f:\\.]+\\]?$","pattern_message":"Must be a host name or an IP address, without scheme, port or path."},
             {"name":"port","kind":"integer","required":false,"description":"TCP port.","default":5432,"min":1,"max":65535},
             {"name":"database","kind":"string","required":true,"description":"Database name."},
             {"name":"username","kind":"string","required":true,"description":"Login role."},
             {"name":"ssl_mode","kind":"string","required":false,"description":"TLS mode.","default":"prefer","allowed_values":["disable","allow","prefer","require","verify-ca","verify-full"]},
             {"name":"schema","kind":"string","required":false,"description":"Destination only.","default":"public"},
             {"name":"wal_disk_budget_mb","kind":"integer","required":false,"description":"WAL budget.","min":1,"max":2147483647,"unit":"MB","only_for":"source"}],
           "secrets":[{"name":"password","required":false,"description":"Password of the login role."}]},
          {"type":"mysql","display_name":"MySQL / MariaDB","kinds":["source"],
           "settings":[
             {"name":"host","kind":"string","required":true,"description":"Host.","pattern":"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?)*$|^\\[?[0-9A-Fa-f:\\.]+\\]?$","pattern_message":"Must be a host name or an IP address, without scheme, port or path."},
             {"name":"port","kind":"integer","required":false,"description":"TCP port.","default":3306,"min":1,"max":65535},
             {"name":"database","kind":"string","required":true,"description":"Database."},
             {"name":"username","kind":"string","required":true,"description":"User."}],
           "secrets":[{"name":"password","required":false,"description":"Password."}]},
          {"type":"snowflake","display_name":"Snowflake","kinds":["destination"],
           "settings":[
             {"name":"account","kind":"string","required":true,"description":"Account identifier.","pattern":"^(?!.*\\.(?i:snowflakecomputing\\.com)$)[A-Za-z0-9][A-Za-z0-9_\\-\\.]{0,254}$","pattern_message":"Use the account identifier (orgname-accountname or locator.region), without .snowflakecomputing.com."},
             {"name":"user","kind":"string","required":true,"description":"User."},
             {"name":"warehouse","kind":"string","required":true,"description":"Warehouse."},
             {"name":"database","kind":"string","required":true,"description":"Database."}],
           "secrets":[{"name":"private_key","required":true,"description":"PEM-encoded RSA private key."},
                      {"name":"private_key_passphrase","required":false,"description":"Passphrase."}]},
          {"type":"bigquery","display_name":"BigQuery","kinds":["destination"],
           "settings":[
             {"name":"project_id","kind":"string","required":true,"description":"Project id.","pattern":"^[a-z][a-z0-9-]{4,28}[a-z0-9]$","pattern_message":"A project id has 6 to 30 lowercase letters, digits and hyphens, starting with a letter."},
             {"name":"dataset","kind":"string","required":true,"description":"Dataset.","pattern":"^[A-Za-z0-9_]{1,1024}$","pattern_message":"A dataset name has letters, digits and underscores only."}],
           "secrets":[{"name":"service_account_json","required":true,"description":"The key file."}]},
          {"type":"duckdb","display_name":"DuckDB file","kinds":["destination"],
           "settings":[{"name":"path","kind":"string","required":true,"description":"File name."}],
           "secrets":[]}
        ]
        """;

    public static IReadOnlyList<ConnectionTypeInfo> All { get; } = JsonSerializer.Deserialize<List<ConnectionTypeInfo>>(Json, FreshetApi.Json)!;

    public static ConnectionTypeInfo Type(string type) => All.Single(t => t.Type == type);
}
