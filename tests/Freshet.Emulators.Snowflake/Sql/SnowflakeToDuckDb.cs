using System.Text;

namespace Freshet.Emulators.Snowflake.Sql;

/// <summary>A statement translated for DuckDB, with the request's binding numbers its `$n` parameters stand for.</summary>
internal sealed record TranslatedStatement(string Sql, IReadOnlyList<int> BindingNumbers, string FirstKeyword);

/// <summary>
/// Token-level translation of the Snowflake constructs DuckDB lacks and macros cannot supply (see
/// <see cref="DialectMacros"/> for the functions): type names, `expr:path[::type]` semi-structured paths,
/// <c>TABLE(FLATTEN(INPUT =&gt; …))</c>, backslash escapes in string literals, and placeholders (`?` and `:n`) renumbered
/// per statement because bindings are numbered across a whole multi-statement request.
/// </summary>
internal static class SnowflakeToDuckDb
{
    private static readonly Dictionary<string, string> TypeNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["NUMBER"] = "DECIMAL",
        ["NUMERIC"] = "DECIMAL",
        ["TIMESTAMP_NTZ"] = "TIMESTAMP",
        ["DATETIME"] = "TIMESTAMP",
        ["TIMESTAMP_LTZ"] = "TIMESTAMPTZ",
        ["TIMESTAMP_TZ"] = "TIMESTAMPTZ",
        // DuckDB has a VARIANT type of its own, but DuckDB.NET cannot read it ("Unrecognised type 41"); JSON text
        // keeps what Snowflake's VARIANT returns over the SQL API (the value's JSON).
        ["VARIANT"] = "JSON",
        ["OBJECT"] = "JSON",
        ["BINARY"] = "BLOB",
        ["VARBINARY"] = "BLOB",
        ["STRING"] = "VARCHAR",
        ["TEXT"] = "VARCHAR",
        ["FLOAT"] = "DOUBLE",
        ["FLOAT4"] = "DOUBLE",
        ["FLOAT8"] = "DOUBLE",
        ["REAL"] = "DOUBLE",
        ["DOUBLE"] = "DOUBLE",
    };

    // Types whose Snowflake length/precision argument DuckDB refuses or ignores differently: the argument is dropped.
    private static readonly HashSet<string> DropArguments = new(StringComparer.OrdinalIgnoreCase)
    {
        "TIME", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "DATETIME", "BINARY", "VARBINARY", "VARCHAR", "STRING", "TEXT",
    };

    private static readonly Dictionary<string, string> FunctionNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["OBJECT_CONSTRUCT"] = "json_object",
        ["ARRAY_SIZE"] = "json_array_length",
    };

    public static TranslatedStatement Translate(IReadOnlyList<Token> tokens, ref int nextBinding)
    {
        var bindings = new List<int>();
        var state = new State(tokens.Where(t => t.Kind != TokenKind.Comment).ToList(), bindings);
        var first = tokens.FirstOrDefault(t => t.Kind == TokenKind.Word).Text?.ToUpperInvariant() ?? "";
        var sql = Rewrite(state, 0, state.Tokens.Count, ref nextBinding);
        return new TranslatedStatement(sql, bindings, first);
    }

    private sealed record State(List<Token> Tokens, List<int> Bindings);

    private static string Rewrite(State state, int from, int to, ref int nextBinding)
    {
        var tokens = state.Tokens;
        var output = new List<Token>();
        var i = from;
        while (i < to)
        {
            var token = tokens[i];
            if (token.Kind == TokenKind.Placeholder)
            {
                state.Bindings.Add(nextBinding++);
                output.Add(new Token(TokenKind.Word, "$" + state.Bindings.Count));
                i++;
            }
            else if (token.IsSymbol(":") && i + 1 < to && tokens[i + 1].Kind == TokenKind.Number && !EndsOperand(output))
            {
                // `:2` refers to the request's second binding.
                state.Bindings.Add(int.Parse(tokens[i + 1].Text, System.Globalization.CultureInfo.InvariantCulture));
                output.Add(new Token(TokenKind.Word, "$" + state.Bindings.Count));
                i += 2;
            }
            else if (token.IsSymbol(":") && i + 1 < to && tokens[i + 1].Kind is TokenKind.Word or TokenKind.QuotedIdentifier && EndsOperand(output))
            {
                i = RewritePath(state, output, i + 1, to);
            }
            else if (token.IsWord("TABLE") && IsFlatten(tokens, i, to, out var inputFrom, out var inputTo, out var after))
            {
                var input = Rewrite(state, inputFrom, inputTo, ref nextBinding);
                output.Add(new Token(TokenKind.Word, $"(SELECT unnest(CAST(({input}) AS JSON[])) AS value)"));
                i = after;
            }
            else if (token.IsWord("TRANSIENT") && LastSignificant(output, 0) is { } create && (create.IsWord("CREATE") || create.IsWord("REPLACE"))
                && NextSignificant(tokens, i + 1, to) is { } table && (tokens[table].IsWord("TABLE") || tokens[table].IsWord("SCHEMA") || tokens[table].IsWord("DATABASE")))
            {
                // A transient object has no Fail-safe period (docs: "Working with temporary and transient tables"); it
                // behaves as a permanent one otherwise, and the emulator keeps no history to fail safe from.
                i++;
            }
            else if (token.IsWord("INFORMATION_SCHEMA") && NextSignificant(tokens, i + 1, to) is { } dot && tokens[dot].IsSymbol(".")
                && NextSignificant(tokens, dot + 1, to) is { } view && InformationSchemaView(tokens[view]) is { } replacement
                && !(LastSignificant(output, 0) is { } qualifier && qualifier.IsSymbol(".")))
            {
                output.Add(new Token(TokenKind.Word, replacement));
                i = view + 1;
            }
            else if (token.Kind == TokenKind.String && token.Text.StartsWith('\''))
            {
                output.Add(new Token(TokenKind.String, DuckDbLiteral(token.Text)));
                i++;
            }
            else if (token.Kind == TokenKind.Word && FunctionNames.TryGetValue(token.Text, out var function) && NextSignificant(tokens, i + 1, to) is { } open && tokens[open].IsSymbol("("))
            {
                output.Add(new Token(TokenKind.Word, function));
                i++;
            }
            else if (token.Kind == TokenKind.Word && IsTypePosition(output) && (TypeNames.ContainsKey(token.Text) || DropArguments.Contains(token.Text)))
            {
                i = RewriteType(tokens, output, i, to);
            }
            else
            {
                output.Add(token);
                i++;
            }
        }
        return SqlTokenizer.Join(output);
    }

    // A type name follows `::`, `AS` (in CAST), a column name in a column definition, or `TYPE` in ALTER … SET DATA TYPE.
    // Column definitions are the one position that needs a little context: the previous significant token is a name and the
    // one before it is `(` or `,`, or the statement is `ALTER TABLE … ADD COLUMN name`.
    private static bool IsTypePosition(List<Token> output)
    {
        var previous = LastSignificant(output, 0);
        if (previous is null)
        {
            return false;
        }
        var p = previous.Value;
        if (p.IsSymbol("::") || p.IsWord("AS") || p.IsWord("TYPE"))
        {
            return true;
        }
        if (p.Kind is TokenKind.Word or TokenKind.QuotedIdentifier)
        {
            var before = LastSignificant(output, 1);
            return before is { } b && (b.IsSymbol("(") || b.IsSymbol(",") || b.IsWord("COLUMN"));
        }
        return false;
    }

    private static Token? LastSignificant(List<Token> output, int skip)
    {
        for (var k = output.Count - 1; k >= 0; k--)
        {
            if (output[k].IsTrivia)
            {
                continue;
            }
            if (skip-- == 0)
            {
                return output[k];
            }
        }
        return null;
    }

    private static int RewriteType(List<Token> tokens, List<Token> output, int i, int to)
    {
        var name = tokens[i].Text;
        var mapped = TypeNames.GetValueOrDefault(name, name.ToUpperInvariant());
        var next = NextSignificant(tokens, i + 1, to);
        var hasArguments = next is { } n && tokens[n].IsSymbol("(");
        var end = i + 1;
        var arguments = "";
        if (hasArguments)
        {
            var close = MatchingParen(tokens, next!.Value, to);
            arguments = SqlTokenizer.Join(tokens.Skip(next.Value).Take(close - next.Value + 1));
            end = close + 1;
        }
        if (mapped == "DECIMAL")
        {
            // Snowflake's NUMBER without arguments is NUMBER(38,0); DuckDB's bare DECIMAL is (18,3).
            arguments = hasArguments ? arguments : "(38,0)";
        }
        else if (DropArguments.Contains(name))
        {
            arguments = "";
        }
        output.Add(new Token(TokenKind.Word, mapped + arguments));
        return end;
    }

    // `base:seg.seg[0]` reads JSON; followed by `::type` it is a scalar cast of the element's text, as in Snowflake,
    // where `v:name::VARCHAR` is the string without its JSON quotes.
    private static int RewritePath(State state, List<Token> output, int i, int to)
    {
        var tokens = state.Tokens;
        var baseTokens = new List<Token>();
        while (output.Count > 0 && (output[^1].Kind is TokenKind.Word or TokenKind.QuotedIdentifier || output[^1].IsSymbol(".")))
        {
            baseTokens.Insert(0, output[^1]);
            output.RemoveAt(output.Count - 1);
        }
        var path = new StringBuilder("$");
        AppendKey(path, tokens[i]);
        i++;
        while (i < to)
        {
            if (tokens[i].IsSymbol(".") && i + 1 < to && tokens[i + 1].Kind is TokenKind.Word or TokenKind.QuotedIdentifier)
            {
                AppendKey(path, tokens[i + 1]);
                i += 2;
            }
            else if (tokens[i].IsSymbol("[") && i + 2 < to && tokens[i + 1].Kind == TokenKind.Number && tokens[i + 2].IsSymbol("]"))
            {
                path.Append('[').Append(tokens[i + 1].Text).Append(']');
                i += 3;
            }
            else
            {
                break;
            }
        }
        var baseSql = SqlTokenizer.Join(baseTokens);
        var pathLiteral = "'" + path.ToString().Replace("'", "''", StringComparison.Ordinal) + "'";
        if (i < to && tokens[i].IsSymbol("::"))
        {
            var typeOutput = new List<Token>();
            var end = RewriteType(tokens, typeOutput, i + 1, to);
            var type = SqlTokenizer.Join(typeOutput);
            var extract = type == "JSON" ? "json_extract" : "json_extract_string";
            output.Add(new Token(TokenKind.Word, $"CAST({extract}({baseSql}, {pathLiteral}) AS {type})"));
            return end;
        }
        output.Add(new Token(TokenKind.Word, $"json_extract({baseSql}, {pathLiteral})"));
        return i;
    }

    private static void AppendKey(StringBuilder path, Token key)
    {
        var name = key.Kind == TokenKind.QuotedIdentifier ? key.Text[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal) : key.Text;
        path.Append(".\"").Append(name.Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
    }

    private static bool IsFlatten(List<Token> tokens, int i, int to, out int inputFrom, out int inputTo, out int after)
    {
        inputFrom = inputTo = after = 0;
        var open = NextSignificant(tokens, i + 1, to);
        if (open is null || !tokens[open.Value].IsSymbol("("))
        {
            return false;
        }
        var flatten = NextSignificant(tokens, open.Value + 1, to);
        if (flatten is null || !tokens[flatten.Value].IsWord("FLATTEN"))
        {
            return false;
        }
        var innerOpen = NextSignificant(tokens, flatten.Value + 1, to);
        if (innerOpen is null || !tokens[innerOpen.Value].IsSymbol("("))
        {
            return false;
        }
        var innerClose = MatchingParen(tokens, innerOpen.Value, to);
        var outerClose = NextSignificant(tokens, innerClose + 1, to);
        if (outerClose is null || !tokens[outerClose.Value].IsSymbol(")"))
        {
            return false;
        }
        inputFrom = innerOpen.Value + 1;
        // FLATTEN(INPUT => expr) or FLATTEN(expr); other named arguments (PATH, OUTER, …) are not translated.
        var firstArgument = NextSignificant(tokens, inputFrom, innerClose);
        if (firstArgument is { } f && tokens[f].IsWord("INPUT") && NextSignificant(tokens, f + 1, innerClose) is { } arrow && tokens[arrow].IsSymbol("=>"))
        {
            inputFrom = arrow + 1;
        }
        inputTo = innerClose;
        after = outerClose.Value + 1;
        return true;
    }

    private static string? InformationSchemaView(Token name) =>
        name.IsWord("COLUMNS") ? DialectMacros.ColumnsView : name.IsWord("TABLES") ? DialectMacros.TablesView : null;

    private static int? NextSignificant(List<Token> tokens, int from, int to)
    {
        for (var k = from; k < to; k++)
        {
            if (!tokens[k].IsTrivia)
            {
                return k;
            }
        }
        return null;
    }

    private static int MatchingParen(List<Token> tokens, int open, int to)
    {
        var depth = 0;
        for (var k = open; k < to; k++)
        {
            if (tokens[k].IsSymbol("("))
            {
                depth++;
            }
            else if (tokens[k].IsSymbol(")") && --depth == 0)
            {
                return k;
            }
        }
        throw new SqlSyntaxException("unbalanced parentheses");
    }

    private static bool EndsOperand(List<Token> output) =>
        output.Count > 0 && (output[^1].Kind is TokenKind.Word or TokenKind.QuotedIdentifier || output[^1].IsSymbol(")") || output[^1].IsSymbol("]"));

    // Snowflake string literals accept backslash escapes; DuckDB's standard literals do not, so the value is decoded
    // and written back with only '' doubling (DuckDB keeps newlines and tabs inside a literal as they are).
    private static string DuckDbLiteral(string snowflakeLiteral)
    {
        var body = snowflakeLiteral[1..^1];
        if (!body.Contains('\\'))
        {
            return snowflakeLiteral;
        }
        var value = new StringBuilder();
        for (var k = 0; k < body.Length; k++)
        {
            var c = body[k];
            if (c == '\\' && k + 1 < body.Length)
            {
                k++;
                value.Append(body[k] switch
                {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    var other => other,
                });
            }
            else if (c == '\'' && k + 1 < body.Length && body[k + 1] == '\'')
            {
                value.Append('\'');
                k++;
            }
            else
            {
                value.Append(c);
            }
        }
        return "'" + value.ToString().Replace("'", "''", StringComparison.Ordinal) + "'";
    }
}
