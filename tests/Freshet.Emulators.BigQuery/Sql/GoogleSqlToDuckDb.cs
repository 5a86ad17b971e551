using System.Text;
using Freshet.Emulators.BigQuery.Rest;

namespace Freshet.Emulators.BigQuery.Sql;

/// <summary>
/// A token-level translation of the GoogleSQL our writers and tests send into DuckDB SQL: backquoted paths
/// (<c>`project.dataset.table`</c> → <c>"dataset"."table"</c>, the project checked), double-quoted strings (GoogleSQL
/// string literals) → single-quoted, backslash escapes, <c>@param</c> → <c>$param</c>, type names (INT64, FLOAT64, BYTES,
/// bare NUMERIC/BIGNUMERIC, TIMESTAMP → TIMESTAMPTZ), SAFE_CAST → TRY_CAST, <c>* EXCEPT(…)</c> → <c>* EXCLUDE(…)</c>,
/// <c>BEGIN/COMMIT TRANSACTION</c>, the optional INTO/FROM of MERGE, INSERT and DELETE; and the split of a script into statements. Everything else is passed through: DuckDB
/// shares MERGE, QUALIFY, window functions and most scalar functions with GoogleSQL.
/// </summary>
internal static class GoogleSqlToDuckDb
{
    public static IReadOnlyList<string> Translate(string script, string projectId)
    {
        var statements = new List<string>();
        var output = new StringBuilder();
        string? previousWord = null;
        var previousSignificant = '\0';
        var i = 0;
        while (i < script.Length)
        {
            var c = script[i];
            if (c == '-' && Peek(script, i + 1) == '-' || c == '#')
            {
                while (i < script.Length && script[i] != '\n')
                {
                    i++;
                }
                continue;
            }
            if (c == '/' && Peek(script, i + 1) == '*')
            {
                var end = script.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? script.Length : end + 2;
                output.Append(' ');
                continue;
            }
            if (c is '\'' or '"')
            {
                var (literal, next) = ReadString(script, i);
                output.Append('\'').Append(literal.Replace("'", "''", StringComparison.Ordinal)).Append('\'');
                i = next;
                previousSignificant = '\'';
                continue;
            }
            if (c == '`')
            {
                var end = script.IndexOf('`', i + 1);
                if (end < 0)
                {
                    throw RestError.InvalidQuery("Syntax error: Unclosed identifier literal");
                }
                output.Append(TranslatePath(script[(i + 1)..end], projectId));
                i = end + 1;
                previousSignificant = '`';
                previousWord = null;
                continue;
            }
            if (c == '@' && i + 1 < script.Length && (char.IsAsciiLetter(script[i + 1]) || script[i + 1] == '_'))
            {
                var start = ++i;
                while (i < script.Length && (char.IsAsciiLetterOrDigit(script[i]) || script[i] == '_'))
                {
                    i++;
                }
                output.Append('$').Append(script[start..i]);
                previousSignificant = 'p';
                continue;
            }
            if (char.IsAsciiLetter(c) || c == '_')
            {
                var start = i;
                while (i < script.Length && (char.IsAsciiLetterOrDigit(script[i]) || script[i] == '_'))
                {
                    i++;
                }
                var word = script[start..i];
                var upper = word.ToUpperInvariant();
                var nextChar = NextSignificant(script, i);
                var translated = upper switch
                {
                    "INT64" => "BIGINT",
                    "FLOAT64" => "DOUBLE",
                    "BYTES" => "BLOB",
                    "BIGNUMERIC" or "BIGDECIMAL" when nextChar != '(' => "DECIMAL(38,9)",
                    "BIGNUMERIC" or "BIGDECIMAL" => "DECIMAL",
                    "NUMERIC" when nextChar != '(' => "DECIMAL(38,9)",
                    // GoogleSQL's TIMESTAMP is an absolute point in time; DATETIME is DuckDB's TIMESTAMP.
                    "TIMESTAMP" => "TIMESTAMPTZ",
                    "DATETIME" => "TIMESTAMP",
                    "SAFE_CAST" => "TRY_CAST",
                    "EXCEPT" when previousSignificant == '*' => "EXCLUDE",
                    "TRANSACTION" when previousWord is "BEGIN" or "COMMIT" or "ROLLBACK" => "",
                    // GoogleSQL makes INTO and FROM optional in MERGE, INSERT and DELETE; DuckDB needs them.
                    "MERGE" or "INSERT" when StatementStart(previousSignificant) && !NextWordIs(script, i, "INTO") => word + " INTO",
                    "DELETE" when StatementStart(previousSignificant) && !NextWordIs(script, i, "FROM") => word + " FROM",
                    _ => word,
                };
                output.Append(translated);
                previousWord = upper;
                previousSignificant = 'w';
                continue;
            }
            if (c == ';')
            {
                AddStatement(statements, output);
                i++;
                previousWord = null;
                previousSignificant = ';';
                continue;
            }
            output.Append(c);
            if (!char.IsWhiteSpace(c))
            {
                previousSignificant = c;
                previousWord = null;
            }
            i++;
        }
        AddStatement(statements, output);
        if (statements.Count == 0)
        {
            throw RestError.InvalidQuery("Syntax error: Unexpected end of script");
        }
        return statements;
    }

    private static void AddStatement(List<string> statements, StringBuilder output)
    {
        var text = output.ToString().Trim();
        if (text.Length > 0)
        {
            statements.Add(text);
        }
        output.Clear();
    }

    private static string TranslatePath(string path, string projectId)
    {
        var parts = path.Split('.');
        if (parts.Length == 3)
        {
            if (!string.Equals(parts[0], projectId, StringComparison.Ordinal))
            {
                throw RestError.NotFound($"Project {parts[0]}");
            }
            parts = parts[1..];
        }
        if (parts.Length > 3 || parts.Any(p => p.Length == 0))
        {
            throw RestError.InvalidQuery($"Invalid table name: `{path}`");
        }
        return string.Join('.', parts.Select(p => "\"" + p.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));
    }

    // GoogleSQL strings: '…' or "…", backslash escapes (\\, \', \", \n, \t, \r); r'…' raw strings are not handled.
    private static (string Literal, int Next) ReadString(string script, int start)
    {
        var quote = script[start];
        var text = new StringBuilder();
        var i = start + 1;
        while (i < script.Length)
        {
            var c = script[i];
            if (c == '\\' && i + 1 < script.Length)
            {
                text.Append(script[i + 1] switch
                {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    var other => other,
                });
                i += 2;
                continue;
            }
            if (c == quote)
            {
                return (text.ToString(), i + 1);
            }
            text.Append(c);
            i++;
        }
        throw RestError.InvalidQuery("Syntax error: Unclosed string literal");
    }

    private static bool StatementStart(char previousSignificant) => previousSignificant is '\0' or ';';

    private static bool NextWordIs(string text, int index, string word)
    {
        while (index < text.Length && char.IsWhiteSpace(text[index]))
        {
            index++;
        }
        return text.Length >= index + word.Length
            && string.Equals(text.Substring(index, word.Length), word, StringComparison.OrdinalIgnoreCase)
            && (text.Length == index + word.Length || !char.IsAsciiLetterOrDigit(text[index + word.Length]));
    }

    private static char Peek(string text, int index) => index < text.Length ? text[index] : '\0';

    private static char NextSignificant(string text, int index)
    {
        while (index < text.Length && char.IsWhiteSpace(text[index]))
        {
            index++;
        }
        return Peek(text, index);
    }
}
