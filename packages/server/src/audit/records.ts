/** Building audit records (one per change category) and showing them as Partner Center's AuditRecord. */
import { ObjectTypes, type AuditOperationType, type AuditRecord, type AuditResourceType } from '@partnerkit/contract';
import type { Actor } from '../actor.js';
import type { AuditRecordRow, CustomerRecord } from '../store/records.js';
import { fullUserAuditValue } from '../users/wire.js';

/** Milliseconds from 0001-01-01 (.NET's epoch) to 1970-01-01. */
const EPOCH_MS_FROM_YEAR_ONE = 62_135_596_800_000;
let sequence = 0;

/** The last millisecond `operationDate` made the text of, and that text (without its `Z`). */
let lastMs = Number.NaN;
let lastMsText = '';

/** `2024-03-05T14:22:10.1234567Z`: seven fractional digits, like Partner Center. */
export function operationDate(ms: number, subMillisecondTicks = 0): string {
  // toISOString() always ends `.mmmZ`: the four sub-millisecond digits go before the Z. The changes committed together
  // mostly share their millisecond, and making the text of a date is a visible share of a PATCH: the last one is kept.
  if (ms !== lastMs) {
    lastMs = ms;
    lastMsText = new Date(ms).toISOString().slice(0, -1);
  }
  return `${lastMsText}${String(subMillisecondTicks).padStart(4, '0')}Z`;
}

export interface AuditEntry {
  operationType: AuditOperationType;
  resourceType: AuditResourceType;
  resourceId: string;
  oldValue: string | null;
  newValue: string | null;
  customizedData: { key: string; value: string | null }[];
}

export function auditRow(actor: Actor, customer: CustomerRecord, entry: AuditEntry, nowMs: number): AuditRecordRow {
  const op = entry.operationType.replace(/_/g, '');
  // The id ends with the .NET ticks (100 ns since 0001-01-01) of operationDate, exactly (Partner Center's ids do):
  // the milliseconds since then, and four digits within the millisecond from a counter, so ids of one instant
  // differ. (The ticks are written as text: they exceed what a double holds exactly.)
  sequence = (sequence + 1) % 10000;
  const sub = sequence;
  return {
    id: `${actor.partnerId}_${customer.id}_${entry.resourceId}_${op}_${String(EPOCH_MS_FROM_YEAR_ONE + nowMs)}${String(sub).padStart(4, '0')}`,
    partnerId: actor.partnerId,
    customerId: customer.id,
    customerName: customer.companyName,
    callerUpn: actor.upn ?? '',
    applicationId: actor.applicationId,
    resourceType: entry.resourceType,
    oldValue: entry.oldValue,
    newValue: entry.newValue,
    operationType: entry.operationType,
    correlationId: actor.correlationId,
    operationDate: operationDate(nowMs, sub),
    operationStatus: 'succeeded',
    customizedData: entry.customizedData,
  };
}

export function toWireAudit(r: AuditRecordRow): AuditRecord {
  const out: AuditRecord = {
    id: r.id,
    partnerId: r.partnerId,
    customerId: r.customerId,
    customerName: r.customerName,
    userPrincipalName: r.callerUpn,
    applicationId: r.applicationId,
    resourceType: r.resourceType,
    operationType: r.operationType,
    originalCorrelationId: r.correlationId,
    operationDate: r.operationDate,
    operationStatus: r.operationStatus,
    customizedData: r.customizedData,
    attributes: { objectType: ObjectTypes.auditRecord },
  };
  // Users' values are stored without what follows from the record (users/wire.ts).
  const full = r.resourceType === 'customer_user' ? (v: string) => fullUserAuditValue(r.customerId, v) : (v: string) => v;
  if (r.oldValue !== null) out.resourceOldValue = full(r.oldValue);
  if (r.newValue !== null) out.resourceNewValue = full(r.newValue);
  return out;
}
