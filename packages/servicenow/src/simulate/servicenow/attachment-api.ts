import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { InstanceData } from './instance-data.js';
import { failure, type ApiAnswer, type Query } from './table-api.js';
import type { TableStore } from './table-store.js';
import type { SnRecord } from './tables.js';

/** `/api/now[/v1]/attachment[/{sys_id}][/file]`, and the two upload routes `/attachment/file` and `/attachment/upload`. */
export const ATTACHMENT_ROUTE = /^\/api\/now(?:\/v1)?\/attachment(?:\/([^/?]+))?(?:\/(file))?\/?$/;

/** The largest attachment accepted (the instance's com.glide.attachment.max_size is 1024 MB; a simulator keeps files in memory). */
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;

/**
 * The Attachment API (c_AttachmentAPI): metadata in sys_attachment, contents in memory.
 *
 *   GET    /attachment                 metadata list (sysparm_query or name=value pairs, sysparm_limit, sysparm_offset)
 *   GET    /attachment/{sys_id}        metadata
 *   GET    /attachment/{sys_id}/file   the file, with its Content-Type
 *   POST   /attachment/file?table_name&table_sys_id&file_name   the body is the file
 *   POST   /attachment/upload          multipart/form-data: table_name, table_sys_id, then the file
 *   DELETE /attachment/{sys_id}
 */
export class AttachmentApi {
  readonly #data: InstanceData;
  readonly #queryOf: (table: TableStore, query: Query) => string;

  /** `queryOf`: the Table API's reading of `sysparm_query` or name=value pairs (`?table_sys_id=…`). */
  constructor(data: InstanceData, queryOf: (table: TableStore, query: Query) => string) {
    this.#data = data;
    this.#queryOf = queryOf;
  }

  async answer(request: FastifyRequest, id: string | undefined, file: boolean, user: string, baseUrl: string): Promise<ApiAnswer | { status: 200; file: Buffer; contentType: string }> {
    const query = request.query as Query;
    const table = this.#data.table('sys_attachment')!;
    const render = (r: SnRecord) => ({ ...r, download_link: `${baseUrl}/api/now/attachment/${r.sys_id}/file` });
    switch (request.method) {
      case 'GET':
      case 'HEAD': {
        if (id === undefined) {
          const rows = this.#data.engine.run(table, this.#queryOf(table, query));
          const offset = Number(query.sysparm_offset ?? 0) || 0;
          const limit = Number(query.sysparm_limit ?? 1000) || 1000;
          return { status: 200, headers: { 'x-total-count': String(rows.length) }, body: { result: rows.slice(offset, offset + limit).map(render) }, rows: rows.length };
        }
        const meta = table.get(id);
        if (meta === undefined) return notFound();
        if (!file) return { status: 200, headers: {}, body: { result: render(meta) } };
        return { status: 200, file: this.#data.attachmentContent(id) ?? Buffer.alloc(0), contentType: meta.content_type || 'application/octet-stream' };
      }
      case 'POST': {
        if (id === 'file' && !file) return this.#create(query.table_name, query.table_sys_id, query.file_name, String(request.headers['content-type'] ?? 'application/octet-stream'), bodyBytes(request.body), user, render);
        if (id === 'upload' && !file) return this.#upload(request, user, render);
        return failure(405, 'Method not Supported', null);
      }
      case 'DELETE': {
        if (id === undefined || file) return failure(405, 'Method not Supported', null);
        if (table.get(id) === undefined) return notFound();
        this.#data.deleteAttachment(id);
        return { status: 204, headers: {}, body: undefined };
      }
      default:
        return failure(405, 'Method not Supported', null);
    }
  }

  async #upload(request: FastifyRequest, user: string, render: (r: SnRecord) => unknown): Promise<ApiAnswer> {
    if (!request.isMultipart()) return failure(400, 'Failed to create the attachment. File part might be missing in the request.', 'expected multipart/form-data');
    const fields: Record<string, string> = {};
    for await (const part of request.parts({ limits: { fileSize: MAX_ATTACHMENT_BYTES, files: 1 } })) {
      if (part.type === 'field') {
        fields[part.fieldname] = String(part.value);
        continue;
      }
      const bytes = await part.toBuffer();
      // As documented, the fields come before the file part; Content-Type may be a field too.
      return this.#create(fields.table_name, fields.table_sys_id, part.filename, fields['Content-Type'] ?? part.mimetype, bytes, user, render);
    }
    return failure(400, 'Failed to create the attachment. File part might be missing in the request.', null);
  }

  #create(tableName: string | undefined, tableSysId: string | undefined, fileName: string | undefined, contentType: string, bytes: Buffer, user: string, render: (r: SnRecord) => unknown): ApiAnswer {
    if (tableName === undefined || tableSysId === undefined || fileName === undefined || fileName === '') {
      return failure(400, 'Requested URI does not represent any resource', 'table_name, table_sys_id and file_name are required');
    }
    const target = this.#data.table(tableName);
    if (target === undefined || target.get(tableSysId) === undefined) return failure(400, 'Invalid table or record', `No record ${tableSysId} in table ${tableName}`);
    if (bytes.length > MAX_ATTACHMENT_BYTES) return failure(400, 'Failed to create the attachment', `The file is larger than ${MAX_ATTACHMENT_BYTES} bytes`);
    const meta = this.#data.createAttachment({
      file_name: fileName, table_name: tableName, table_sys_id: tableSysId, content_type: contentType.split(';', 1)[0]!.trim(),
      size_bytes: String(bytes.length), size_compressed: String(bytes.length), compressed: 'false', state: 'available',
      hash: createHash('sha256').update(bytes).digest('hex'), chunk_size_bytes: '700000', image_width: '', image_height: '', average_image_color: '',
    }, bytes, user);
    const result = render(meta) as { download_link: string };
    return { status: 201, headers: { location: result.download_link.replace(/\/file$/, '') }, body: { result } };
  }
}

function bodyBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
}

function notFound(): ApiAnswer {
  return failure(404, 'Record doesn\'t exist or ACL restricts the record retrieval', null);
}
