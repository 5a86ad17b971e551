using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Secrets;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using OpenIddict.Abstractions;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>
/// <c>Idempotency-Key</c> on POST: the first response for a caller, key and body is kept for 24 hours and replayed
/// to retries (with <c>Idempotent-Replayed: true</c>); the same key with another body is a 422; a retry that arrives
/// while the first request is still running gets 409. Server errors are not kept, so a retry can succeed.
/// </summary>
internal sealed class IdempotencyMiddleware(RequestDelegate next, TimeProvider clock)
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    private static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    public async Task InvokeAsync(HttpContext context, ControlDbContext db, SecretBox box, IProblemDetailsService problems)
    {
        var key = context.Request.Headers[Header].ToString();
        var subject = context.User.FindFirstValue(OpenIddictConstants.Claims.Subject);
        if (!HttpMethods.IsPost(context.Request.Method) || string.IsNullOrEmpty(key) || subject is null
            || !context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }

        if (key.Length > 255 || key.Any(c => c < 0x21 || c > 0x7e))
        {
            await WriteProblem(context, problems, 400, "Invalid Idempotency-Key", "Use 1 to 255 printable ASCII characters, e.g. a UUID.");
            return;
        }

        context.Request.EnableBuffering();
        var hash = await HashRequestAsync(context.Request, context.RequestAborted);
        var scope = $"{subject}|{context.Request.Headers[AccessConventions.TenantHeader]}";
        var now = clock.GetUtcNow();

        var record = new IdempotencyRecord { Id = Guid.CreateVersion7(now), Scope = scope, Key = key, RequestHash = hash, CreatedAt = now, ExpiresAt = now + Retention };
        db.IdempotencyRecords.Add(record);
        try
        {
            await db.SaveChangesAsync(context.RequestAborted);
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            db.ChangeTracker.Clear();
            var existing = await db.IdempotencyRecords.AsNoTracking().FirstAsync(r => r.Scope == scope && r.Key == key, context.RequestAborted);
            if (existing.ExpiresAt <= now)
            {
                await db.IdempotencyRecords.Where(r => r.Id == existing.Id).ExecuteDeleteAsync(context.RequestAborted);
                await InvokeAsync(context, db, box, problems);
                return;
            }

            if (existing.RequestHash != hash)
            {
                await WriteProblem(context, problems, 422, "Idempotency-Key reused", "This Idempotency-Key was already used with a different request body. Use a new key for a new request.");
                return;
            }

            if (existing.StatusCode is null || existing.EncryptedResponse is null)
            {
                await WriteProblem(context, problems, 409, "Request in progress", "A request with this Idempotency-Key is still being processed. Retry shortly.");
                return;
            }

            await ReplayAsync(context, existing.StatusCode.Value, box.Open(existing.EncryptedResponse));
            return;
        }

        var originalBody = context.Response.Body;
        await using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        catch
        {
            // The request failed before it had an answer: free the key so that a retry runs it again.
            context.Response.Body = originalBody;
            await db.IdempotencyRecords.Where(r => r.Id == record.Id).ExecuteDeleteAsync(CancellationToken.None);
            throw;
        }
        finally
        {
            context.Response.Body = originalBody;
        }

        buffer.Position = 0;
        if (context.Response.StatusCode < 500)
        {
            var stored = new StoredResponse(
                context.Response.ContentType,
                context.Response.Headers.Location.ToString(),
                context.Response.Headers.ETag.ToString(),
                buffer.ToArray());
            record.StatusCode = context.Response.StatusCode;
            record.EncryptedResponse = box.Seal(JsonSerializer.SerializeToUtf8Bytes(stored));
            await db.IdempotencyRecords.Where(r => r.Id == record.Id).ExecuteUpdateAsync(
                s => s.SetProperty(r => r.StatusCode, record.StatusCode).SetProperty(r => r.EncryptedResponse, record.EncryptedResponse),
                CancellationToken.None);
        }
        else
        {
            await db.IdempotencyRecords.Where(r => r.Id == record.Id).ExecuteDeleteAsync(CancellationToken.None);
        }

        await buffer.CopyToAsync(originalBody, context.RequestAborted);
    }

    private static async Task<string> HashRequestAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes($"{request.Method} {request.Path}{request.QueryString}\n"));
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            sha.AppendData(chunk, 0, read);
        }

        request.Body.Position = 0;
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    private static async Task ReplayAsync(HttpContext context, int statusCode, byte[] sealedResponse)
    {
        var stored = JsonSerializer.Deserialize<StoredResponse>(sealedResponse)!;
        context.Response.StatusCode = statusCode;
        context.Response.Headers[ReplayedHeader] = "true";
        if (!string.IsNullOrEmpty(stored.ContentType))
        {
            context.Response.ContentType = stored.ContentType;
        }

        if (!string.IsNullOrEmpty(stored.Location))
        {
            context.Response.Headers.Location = stored.Location;
        }

        if (!string.IsNullOrEmpty(stored.ETag))
        {
            context.Response.Headers.ETag = stored.ETag;
        }

        await context.Response.Body.WriteAsync(stored.Body, context.RequestAborted);
    }

    private static Task WriteProblem(HttpContext context, IProblemDetailsService problems, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        return problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = { Status = status, Title = title, Detail = detail } }).AsTask();
    }

    private sealed record StoredResponse(string? ContentType, string? Location, string? ETag, byte[] Body);
}
