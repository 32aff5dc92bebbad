// Well-known VMBus interface (device class) GUIDs and the fixed IC instance GUIDs (spec vmbus.md 7.1).
import type { GuidString } from '../vmbus/guid.js';

/** Interface type GUIDs offered in OFFERCHANNEL.if_type. */
export const VmbusInterfaceGuid = {
  Heartbeat: '57164f39-9115-4e78-ab55-382f3bd5422d',
  Kvp: 'a9a0f4e7-5a45-4d96-b827-8a841e8c03e6',
  Shutdown: '0e0b6031-5213-4934-818b-38d90ced39db',
  TimeSync: '9527e630-d0ae-497b-adce-e80ab0175caf',
  Vss: '35fa2e29-ea23-4236-96ae-3a6ebacba440',
  FileCopy: '34d14be3-dee4-41c8-9ae7-6b174977c192',
  Scsi: 'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f',
  Ide: '32412632-86cb-44a2-9b5c-50d1417354f5',
  Network: 'f8615163-df3e-46c5-913f-f2d2f965ed0e',
  DynamicMemory: '525074dc-8985-46e2-8057-a307dc18a502',
  SyntheticVideo: 'da0a7802-e377-4aac-8e77-0558eb1073f8',
  Keyboard: 'f912ad6d-2b17-48ea-bd65-f927a61c7684',
  Mouse: 'cfa8b69e-5b4a-4cc0-b98b-8ba1a1f3f95a',
  PciPassthrough: '44c4f61d-4444-4400-9d52-802e27ede19f',
  FibreChannel: '2f9bcc4a-0069-4af3-b76b-6fd0be528cda',
  /** Remote desktop virtualization IC. */
  Rdv: '276aacf4-ac15-426c-98dd-7521ad3f01fe',
  Avma: 'f8e65716-3cb3-4a06-9a60-1889c5cccab5',
  /** Also named "inherited activation". */
  Avma2: '3375baf4-9e15-4b30-b765-67acb10d607b',
  /** The VMBus file system (vmbfs) class, used for IMC. */
  Imc: 'c376c1c3-d276-48d2-90a9-c04748072c60',
} as const satisfies Record<string, GuidString>;

/** Instance GUIDs the IC channels are offered with (openvmm; the others are host-chosen). */
export const IcInstanceGuid = {
  Kvp: '242ff919-07db-4180-9c2e-b86cb68c8c55',
  Shutdown: 'b6650ff7-33bc-4840-8048-e0676786f393',
  TimeSync: '2dd1ce17-079e-403c-b352-a1921ee207ee',
} as const satisfies Record<string, GuidString>;
