namespace Freshet.Emulators.Snowflake.Engine;

/// <summary>
/// An error the emulator answers with: the HTTP status and the Snowflake error code, SQL state and message of the
/// response body. Codes follow Snowflake's where its documentation or widely reported responses give one; the others are
/// marked in the README as the emulator's own.
/// </summary>
internal sealed class SqlApiError(int httpStatus, string code, string sqlState, string message) : Exception(message)
{
    public int HttpStatus { get; } = httpStatus;
    public string Code { get; } = code;
    public string SqlState { get; } = sqlState;

    public static SqlApiError Compilation(string message) => new(422, "001003", "42000", "SQL compilation error:\n" + message);

    public static SqlApiError Execution(string code, string sqlState, string message) => new(422, code, sqlState, message);
}
