using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>One page of a list; <c>next_page_token</c> is null on the last page.</summary>
internal sealed record Page<T>(IReadOnlyList<T> Items, string? NextPageToken);

/// <summary>
/// Cursor pagination: the token is the sort key of the last item returned, so pages stay stable while rows are
/// inserted (no OFFSET drift) and every page costs one index range scan.
/// </summary>
internal readonly record struct PageRequest(int Size, string[]? After)
{
    public const int DefaultSize = 50;
    public const int MaxSize = 100;

    public static bool TryCreate(int? pageSize, string? pageToken, int keyParts, out PageRequest page, out ValidationProblem? problem)
    {
        page = default;
        problem = null;
        var validator = new RequestValidator();
        if (pageSize is { } size && (size < 1 || size > MaxSize))
        {
            validator.Add("page_size", $"Must be between 1 and {MaxSize}.");
        }

        string[]? after = null;
        if (!string.IsNullOrEmpty(pageToken))
        {
            after = Decode(pageToken, keyParts);
            if (after is null)
            {
                validator.Add("page_token", "Not a page token from this list; pass the next_page_token of the previous page unchanged.");
            }
        }

        if (!validator.IsValid)
        {
            problem = Problems.Validation(validator.Errors);
            return false;
        }

        page = new PageRequest(pageSize ?? DefaultSize, after);
        return true;
    }

    public static string Encode(params string[] parts) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Join('\n', parts)));

    private static string[]? Decode(string token, int keyParts)
    {
        if (token.Length > 512)
        {
            return null;
        }

        try
        {
            var parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token)).Split('\n');
            return parts.Length == keyParts ? parts : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public Guid? AfterId => After is { Length: 1 } parts && Guid.TryParse(parts[0], out var id) ? id : null;

    /// <summary>A token whose parts do not parse is reported like a forged one.</summary>
    public bool HasInvalidAfterId => After is { Length: 1 } && AfterId is null;

    /// <summary>Takes one row more than the page to learn whether another page follows.</summary>
    public Page<TOut> ToPage<TIn, TOut>(List<TIn> rows, Func<TIn, TOut> map, Func<TIn, string[]> key)
    {
        var hasMore = rows.Count > Size;
        var items = rows.Take(Size).ToList();
        var token = hasMore ? Encode(key(items[^1])) : null;
        return new Page<TOut>(items.Select(map).ToList(), token);
    }
}

/// <summary>The common list shape: rows ordered by their UUIDv7 id, the cursor being the last id returned.</summary>
internal static class IdPaging
{
    public static bool TryCreate(int? pageSize, string? pageToken, out PageRequest page, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ValidationProblem? problem)
    {
        if (!PageRequest.TryCreate(pageSize, pageToken, 1, out page, out var invalid))
        {
            problem = invalid!;
            return false;
        }

        problem = null;
        if (page.HasInvalidAfterId)
        {
            problem = Problems.Validation(new Dictionary<string, string[]> { ["page_token"] = ["Not a page token from this list."] });
            return false;
        }

        return true;
    }

    public static async Task<Page<TOut>> ListAsync<T, TOut>(
        this PageRequest page, IQueryable<T> query, System.Linq.Expressions.Expression<Func<T, Guid>> id, Func<T, TOut> map, CancellationToken cancellationToken)
    {
        if (page.AfterId is { } after)
        {
            // A member of a captured object, so EF sends the cursor as a parameter (one cached plan for every page).
            var cursor = System.Linq.Expressions.Expression.Property(System.Linq.Expressions.Expression.Constant(new Cursor(after)), nameof(Cursor.Value));
            query = query.Where(System.Linq.Expressions.Expression.Lambda<Func<T, bool>>(System.Linq.Expressions.Expression.GreaterThan(id.Body, cursor), id.Parameters));
        }

        var rows = await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToListAsync(query.OrderBy(id).Take(page.Size + 1), cancellationToken);
        var key = id.Compile();
        return page.ToPage(rows, map, row => [key(row).ToString()]);
    }

    private sealed record Cursor(Guid Value);
}
