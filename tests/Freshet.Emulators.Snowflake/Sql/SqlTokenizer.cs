using System.Text;

namespace Freshet.Emulators.Snowflake.Sql;

internal enum TokenKind
{
    Whitespace,
    Comment,
    Word,
    QuotedIdentifier,
    String,
    Number,
    Symbol,
    Placeholder,
    Semicolon,
}

internal readonly record struct Token(TokenKind Kind, string Text)
{
    public bool IsWord(string word) => Kind == TokenKind.Word && string.Equals(Text, word, StringComparison.OrdinalIgnoreCase);

    public bool IsSymbol(string symbol) => Kind == TokenKind.Symbol && Text == symbol;

    public bool IsTrivia => Kind is TokenKind.Whitespace or TokenKind.Comment;
}

/// <summary>
/// Splits Snowflake SQL into tokens: enough to find statement boundaries (a `;` outside strings, quoted names and
/// comments), placeholders, and the few constructs the rewriter translates. It is not a parser.
/// </summary>
internal static class SqlTokenizer
{
    public static List<Token> Tokenize(string sql)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            var start = i;
            if (char.IsWhiteSpace(c))
            {
                while (i < sql.Length && char.IsWhiteSpace(sql[i]))
                {
                    i++;
                }
                tokens.Add(new Token(TokenKind.Whitespace, sql[start..i]));
            }
            else if (c == '-' && Peek(sql, i + 1) == '-' || c == '/' && Peek(sql, i + 1) == '/')
            {
                while (i < sql.Length && sql[i] != '\n')
                {
                    i++;
                }
                tokens.Add(new Token(TokenKind.Comment, sql[start..i]));
            }
            else if (c == '/' && Peek(sql, i + 1) == '*')
            {
                var end = sql.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    throw new SqlSyntaxException("unterminated /* comment");
                }
                i = end + 2;
                tokens.Add(new Token(TokenKind.Comment, sql[start..i]));
            }
            else if (c == '\'')
            {
                i = EndOfQuoted(sql, i, '\'', "string literal");
                tokens.Add(new Token(TokenKind.String, sql[start..i]));
            }
            else if (c == '$' && Peek(sql, i + 1) == '$')
            {
                // $$…$$ strings have no escapes; DuckDB has the same dollar quoting.
                var end = sql.IndexOf("$$", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    throw new SqlSyntaxException("unterminated $$ string");
                }
                i = end + 2;
                tokens.Add(new Token(TokenKind.String, sql[start..i]));
            }
            else if (c == '"')
            {
                i = EndOfQuoted(sql, i, '"', "quoted identifier");
                tokens.Add(new Token(TokenKind.QuotedIdentifier, sql[start..i]));
            }
            else if (char.IsLetter(c) || c == '_')
            {
                while (i < sql.Length && (char.IsLetterOrDigit(sql[i]) || sql[i] is '_' or '$'))
                {
                    i++;
                }
                tokens.Add(new Token(TokenKind.Word, sql[start..i]));
            }
            else if (char.IsDigit(c))
            {
                while (i < sql.Length && (char.IsDigit(sql[i]) || sql[i] == '.' || sql[i] is 'e' or 'E'))
                {
                    i++;
                }
                tokens.Add(new Token(TokenKind.Number, sql[start..i]));
            }
            else if (c == '?')
            {
                i++;
                tokens.Add(new Token(TokenKind.Placeholder, "?"));
            }
            else if (c == ';')
            {
                i++;
                tokens.Add(new Token(TokenKind.Semicolon, ";"));
            }
            else
            {
                var two = i + 1 < sql.Length ? sql.Substring(i, 2) : "";
                if (two is "::" or "=>" or "<=" or ">=" or "<>" or "!=" or "||")
                {
                    i += 2;
                    tokens.Add(new Token(TokenKind.Symbol, two));
                }
                else
                {
                    i++;
                    tokens.Add(new Token(TokenKind.Symbol, c.ToString()));
                }
            }
        }
        return tokens;
    }

    /// <summary>Statements of a request, split at top-level semicolons; empty ones (comments only) dropped.</summary>
    public static List<List<Token>> SplitStatements(string sql)
    {
        var statements = new List<List<Token>>();
        var current = new List<Token>();
        foreach (var token in Tokenize(sql))
        {
            if (token.Kind == TokenKind.Semicolon)
            {
                Flush();
            }
            else
            {
                current.Add(token);
            }
        }
        Flush();
        return statements;

        void Flush()
        {
            if (current.Any(t => !t.IsTrivia))
            {
                statements.Add(current);
            }
            current = [];
        }
    }

    public static string Join(IEnumerable<Token> tokens)
    {
        var builder = new StringBuilder();
        foreach (var token in tokens)
        {
            builder.Append(token.Text);
        }
        return builder.ToString();
    }

    private static char Peek(string sql, int index) => index < sql.Length ? sql[index] : '\0';

    private static int EndOfQuoted(string sql, int start, char quote, string what)
    {
        var i = start + 1;
        while (i < sql.Length)
        {
            if (sql[i] == '\\' && quote == '\'')
            {
                i += 2;
                continue;
            }
            if (sql[i] == quote)
            {
                if (Peek(sql, i + 1) == quote)
                {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            i++;
        }
        throw new SqlSyntaxException($"unterminated {what}");
    }
}

internal sealed class SqlSyntaxException(string message) : Exception(message);
